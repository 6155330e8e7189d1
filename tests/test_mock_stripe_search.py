"""Stripe's search query language as mock-stripe reads it (parsing and matching, no server)."""

from __future__ import annotations

import pytest

from converge_twins.mock_stripe.errors import StripeError
from converge_twins.mock_stripe.search import (
    CUSTOMER_FIELDS,
    INVOICE_FIELDS,
    matcher,
    page_offset,
    page_token,
)

ADA = {
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "phone": None,
    "created": 1_700_000_000,
    "metadata": {"plan": "pro", "team": "math"},
}


def selects(query: str, obj: dict[str, object] = ADA) -> bool:
    return matcher(query, CUSTOMER_FIELDS, "customers")(obj)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("email:'ada@example.com'", True),
        ('email:"ADA@example.com"', True),  # exact matches ignore case on text fields
        ("email:'bob@example.com'", False),
        ("name~'love'", True),
        ("-name~'love'", False),
        ("metadata['plan']:'pro'", True),
        ('metadata["plan"]:"free"', False),
        ("metadata['plan']:'pro' AND metadata['team']:'math'", True),
        ("metadata['plan']:'pro' metadata['team']:'art'", False),  # a space is AND
        ("metadata['plan']:'free' OR metadata['team']:'math'", True),
        ("metadata['plan']:'free' or name:'nobody'", False),  # keywords in any case
        ("created>1699999999", True),
        ("created>=1700000000 AND created<1700000001", True),
        ("created<1700000000", False),
        ("phone:null", True),
        ("-email:null", True),
        (r"name:'Ada \'Lovelace\''", False),
    ],
)
def test_clauses_select_as_stripe_documents(query, expected):
    assert selects(query) is expected


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", "empty"),
        ("email:", "could not parse"),
        ("email 'x'", "could not parse"),
        ("AND email:'x'", "between two clauses"),
        ("email:'x' AND", "ends with AND"),
        ("email:'x' AND name:'y' OR phone:'z'", "cannot mix AND and OR"),
        ("color:'red'", "unsupported search field"),
        ("name~'ad'", "at least 3 characters"),
        ("email>'a'", "not numeric"),
        ("metadata:'x'", "metadata['key']"),
        ("email:unquoted", "must be quoted"),
        (" ".join(f"name:'{n}'" for n in range(11)), "at most 10 clauses"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_problem(query, names):
    with pytest.raises(StripeError) as caught:
        matcher(query, CUSTOMER_FIELDS, "customers")
    assert caught.value.status == 400
    assert caught.value.param == "query"
    assert names in caught.value.message


def test_invoices_search_by_their_subscription_through_the_parent():
    invoice = {
        "status": "paid",
        "total": 1900,
        "parent": {"subscription_details": {"subscription": "sub_1"}},
        "metadata": {},
    }
    found = matcher("subscription:'sub_1' AND total>=1900", INVOICE_FIELDS, "invoices")
    assert found(invoice)
    assert not matcher("subscription:'sub_2'", INVOICE_FIELDS, "invoices")(invoice)


def test_page_tokens_round_trip_and_bad_ones_are_refused():
    assert page_offset(page_token(20)) == 20
    assert page_offset(None) == 0
    with pytest.raises(StripeError) as caught:
        page_offset("not-a-page")
    assert caught.value.param == "page"
