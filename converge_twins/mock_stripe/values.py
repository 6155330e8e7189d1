"""Small values several resources share: addresses, currencies, amounts, billing periods."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

from converge_twins.mock_stripe.errors import StripeError, invalid
from converge_twins.mock_stripe.forms import Params

Obj = dict[str, Any]
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
# The presentment currencies Stripe accepts (lowercase ISO 4217), as its docs list them.
CURRENCIES = frozenset(
    [
        "usd",
        "aed",
        "afn",
        "all",
        "amd",
        "ang",
        "aoa",
        "ars",
        "aud",
        "awg",
        "azn",
        "bam",
        "bbd",
        "bdt",
        "bgn",
        "bhd",
        "bif",
        "bmd",
        "bnd",
        "bob",
        "brl",
        "bsd",
        "bwp",
        "byn",
        "bzd",
        "cad",
        "cdf",
        "chf",
        "clp",
        "cny",
        "cop",
        "crc",
        "cve",
        "czk",
        "djf",
        "dkk",
        "dop",
        "dzd",
        "egp",
        "etb",
        "eur",
        "fjd",
        "fkp",
        "gbp",
        "gel",
        "gip",
        "gmd",
        "gnf",
        "gtq",
        "gyd",
        "hkd",
        "hnl",
        "htg",
        "huf",
        "idr",
        "ils",
        "inr",
        "isk",
        "jmd",
        "jod",
        "jpy",
        "kes",
        "kgs",
        "khr",
        "kmf",
        "krw",
        "kwd",
        "kyd",
        "kzt",
        "lak",
        "lbp",
        "lkr",
        "lrd",
        "lsl",
        "mad",
        "mdl",
        "mga",
        "mkd",
        "mmk",
        "mnt",
        "mop",
        "mur",
        "mvr",
        "mwk",
        "mxn",
        "myr",
        "mzn",
        "nad",
        "ngn",
        "nio",
        "nok",
        "npr",
        "nzd",
        "omr",
        "pab",
        "pen",
        "pgk",
        "php",
        "pkr",
        "pln",
        "pyg",
        "qar",
        "ron",
        "rsd",
        "rub",
        "rwf",
        "sar",
        "sbd",
        "scr",
        "sek",
        "sgd",
        "shp",
        "sle",
        "sos",
        "srd",
        "std",
        "szl",
        "thb",
        "tjs",
        "tnd",
        "top",
        "try",
        "ttd",
        "twd",
        "tzs",
        "uah",
        "ugx",
        "uyu",
        "uzs",
        "vnd",
        "vuv",
        "wst",
        "xaf",
        "xcd",
        "xof",
        "xpf",
        "yer",
        "zar",
        "zmw",
    ]
)
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
MAX_AMOUNT = 99_999_999
INTERVALS = ("day", "week", "month", "year")


def address(raw: Any, param: str = "address") -> Obj | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise invalid(param, f"Invalid hash: {param} must be a hash")
    unknown = sorted(set(raw) - set(ADDRESS_FIELDS))
    if unknown:
        raise StripeError(
            400,
            f"Received unknown parameter: {param}[{unknown[0]}]",
            code="parameter_unknown",
            param=f"{param}[{unknown[0]}]",
        )
    return {name: raw.get(name) or None for name in ADDRESS_FIELDS}


def empty_address() -> Obj:
    return dict.fromkeys(ADDRESS_FIELDS)


def shipping(raw: Any, param: str = "shipping") -> Obj | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict) or not raw.get("name"):
        raise StripeError(
            400,
            f"Missing required param: {param}[name].",
            code="parameter_missing",
            param=f"{param}[name]",
        )
    return {
        "address": address(raw.get("address"), f"{param}[address]") or empty_address(),
        "name": raw["name"],
        "phone": raw.get("phone") or None,
    }


def currency(params: Params, name: str = "currency", *, required: bool = True) -> str | None:
    value = params.text(name, required=required)
    return checked_currency(value, name) if value is not None else None


def checked_currency(value: str, param: str = "currency") -> str:
    code = value.lower()
    if code not in CURRENCIES:
        raise invalid(
            param,
            f"Invalid currency: {value}. Stripe currently supports these "
            f"currencies: {', '.join(sorted(CURRENCIES))}",
            code="parameter_invalid",
        )
    return code


def amount(value: int | None, param: str, *, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if value < minimum:
        raise invalid(
            param,
            f"Invalid {param}: must be at least {minimum}",
            code="parameter_invalid_integer",
        )
    if value > MAX_AMOUNT:
        raise invalid(
            param,
            f"Invalid {param}: must be at most {MAX_AMOUNT}",
            code="parameter_invalid_integer",
        )
    return value


def minimum_charge(currency_code: str) -> int:
    """Stripe's minimum charge amount (about half a dollar) in the currency's smallest unit."""
    return {"jpy": 50, "huf": 17500, "krw": 1000, "gbp": 30, "inr": 50}.get(currency_code, 50)


def add_interval(start: int, interval: str, count: int) -> int:
    """``start`` moved by ``count`` intervals, by calendar (a month from Jan 31 is Feb 28)."""
    moment = datetime.fromtimestamp(start, UTC)
    if interval == "day":
        return start + 86_400 * count
    if interval == "week":
        return start + 604_800 * count
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    moved = moment.replace(year=year, month=month, day=day)
    return int(moved.timestamp())


def interval_seconds(interval: str, count: int) -> int:
    return (
        int(
            timedelta(
                days={"day": 1, "week": 7, "month": 30, "year": 365}[interval]
            ).total_seconds()
        )
        * count
    )
