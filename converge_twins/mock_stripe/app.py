"""mock-stripe: Stripe's API for the resources a SaaS app bills with, in test mode.

Resources (one module each): customers, products and prices (``catalog``), checkout sessions,
subscriptions and subscription items, invoices, payment intents (``payments``), events, webhook
endpoints and billing portal sessions (``events``); the README lists every operation. Any other
operation of Stripe's API is a 400 that names it (``catalogue``); an unknown path is Stripe's
404 ``Unrecognized request URL``.

Every request goes through Stripe's pipeline: the secret key (``Authorization: Bearer
sk_test_…`` or HTTP Basic; live keys are always refused, publishable keys too), the
``Stripe-Version`` (checked, echoed; events carry the account's version), the
``Stripe-Account`` (a connected account the twin knows, else a 403), ``Idempotency-Key`` on
POST (the same key and parameters replay the answer with ``Idempotent-Replayed: true``; other
parameters are an ``idempotency_error``; keys last 24 hours), form-encoded parameters (unknown
ones are ``parameter_unknown``), then the operation, then ``expand[]``. Errors are Stripe's
error object with ``code``, ``param``, ``doc_url`` and ``request_log_url``.

The twin's clock drives what Stripe does over time (renewals, trial ends, cancellations at a
date, checkout expiry, invoice collection, webhook retries): it runs before every API request,
and after every control-plane request (so advancing the clock through ``/_twin/clock`` answers
once what became due has run).

Control, under ``/_twin/`` besides the shared plane: ``POST /_twin/checkout/{id}/complete``
(optionally ``{"payment_method": "pm_card_…", "email", "name"}``) pays an open checkout session
as its customer would and delivers the resulting events before answering; ``GET|POST
/_twin/webhooks`` shows or changes the ``STRIPE_WEBHOOK_URL`` listener; ``GET
/_twin/webhooks/deliveries`` lists every delivery with its attempts; ``POST /_twin/due`` runs
what the clock made due and answers what was delivered; ``GET|POST /_twin/accounts`` lists or
adds connected accounts. Environment: ``STRIPE_WEBHOOK_URL``, ``STRIPE_WEBHOOK_SECRET``
(default ``whsec_converge_test_secret``), ``STRIPE_WEBHOOK_RETRY_SCHEDULE``,
``STRIPE_API_VERSION`` (the account's default), ``STRIPE_ACCOUNTS`` (connected account ids,
comma-separated), plus the shared ``TWIN_*`` variables.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins.control import CONTROL_PREFIX, Twin, build_app, environment, mark_unmatched
from converge_twins.mock_stripe import (  # noqa: F401 (each module registers its operations)
    catalog,
    checkout,
    customers,
    events,
    invoices,
    invoicing,
    payments,
    renewals,
    subscription_items,
    subscriptions,
)
from converge_twins.mock_stripe.api import Operation, routing_order
from converge_twins.mock_stripe.catalogue import unanswered
from converge_twins.mock_stripe.errors import StripeError
from converge_twins.mock_stripe.expand import expand
from converge_twins.mock_stripe.forms import Params, decode
from converge_twins.mock_stripe.state import IDEMPOTENCY_SECONDS, Account, Call, Replay, Stripe
from converge_twins.mock_stripe.store import Obj
from converge_twins.mock_stripe.versions import checked
from converge_twins.mock_stripe.webhooks import DEFAULT_WEBHOOK_SECRET, Webhooks, parse_schedule

log = logging.getLogger("converge_twins.mock_stripe")

ERROR_KINDS = {402: ("card_error", "card_declined"), 429: ("invalid_request_error", "rate_limit")}
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
PUBLISHABLE = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You "
    "can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)
MAX_IDEMPOTENCY_KEY = 255
ALL_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]


def masked(key: str) -> str:
    return f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}" if len(key) > 12 else "****"


def error_response(status: int, path: str, message: str | None) -> Response:
    """The twin's answer for a fault armed with only a status (and Starlette's own errors)."""
    kind, code = ERROR_KINDS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", None)
    )
    defaults = {
        402: "Your card was declined.",
        404: f"Unrecognized request URL ({path}). Please see https://stripe.com/docs or we can "
        "help at https://support.stripe.com/.",
        409: "There is currently another in-progress request using this Stripe object.",
        413: "Request body too large.",
        429: "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
    }
    text = message or defaults.get(status, "An unknown error occurred. Please try again.")
    error = StripeError(status, text, kind=kind, code=code)
    return JSONResponse(error.body(), status_code=status)


@dataclass
class Exchange:
    """One API request on its way through the pipeline."""

    request_id: str
    headers: dict[str, str]
    account: Account | None = None
    key: str | None = None  # its Idempotency-Key, once the request is idempotent
    fingerprint: str = ""
    replayable: bool = False  # whether its answer is kept for the key
    call: Call | None = None


class StripeTwin:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.twin = Twin("mock-stripe", env, error_response)
        self.stripe = Stripe(self.twin, env)
        self.webhooks = Webhooks(
            self.twin,
            env.get("STRIPE_WEBHOOK_URL") or None,
            env.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET,
            parse_schedule(env.get("STRIPE_WEBHOOK_RETRY_SCHEDULE")),
        )
        self.stripe.webhooks = self.webhooks
        self.due_hooks = [renewals.advance, invoicing.collect_due, checkout.advance]
        self.background: set[asyncio.Task[Any]] = set()

    # time-driven work -------------------------------------------------------------------------

    def sweep(self) -> list[Obj]:
        """Renewals, trial ends, expiries the clock has made due, in every account."""
        happened: list[Obj] = []
        for account in self.stripe.accounts():
            call = self.stripe.background_call(account)
            for hook in self.due_hooks:
                hook(call)
            happened += call.events
        return happened

    async def run_due(self) -> tuple[list[Obj], list[Obj]]:
        happened = self.sweep()
        return happened, await self.webhooks.run_due()

    def later(self, work: Awaitable[Any]) -> None:
        """Deliveries go out after the answer, as Stripe's do."""

        async def guarded() -> None:
            try:
                await work
            except Exception:  # a delivery bug must not vanish silently in a task
                log.exception("mock-stripe: background delivery failed")

        task = asyncio.get_running_loop().create_task(guarded())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # the request pipeline ---------------------------------------------------------------------

    def authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "").strip()
        if not header:
            raise StripeError(401, NO_KEY)
        scheme, _, value = header.partition(" ")
        key = value.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                raise StripeError(401, "Invalid API Key provided: ****") from None
        elif scheme.lower() != "bearer":
            raise StripeError(401, f"Invalid API Key provided: {masked(header)}")
        if not key:
            raise StripeError(401, NO_KEY)
        if key.startswith(("pk_test_", "pk_live_")):
            raise StripeError(401, PUBLISHABLE)
        if not key.startswith(("sk_test_", "rk_test_")) or len(key) <= 8:
            raise StripeError(401, f"Invalid API Key provided: {masked(key)}")
        return key

    def account(self, request: Request, key: str) -> Account:
        wanted = request.headers.get("stripe-account")
        if not wanted or wanted == self.stripe.platform.id:
            return self.stripe.platform
        found = self.stripe.connected.get(wanted.strip())
        if found is None:
            raise StripeError(
                403,
                f"The provided key '{masked(key)}' does not have access to account '{wanted}' "
                "(or that account does not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        return found

    @staticmethod
    async def pairs(request: Request) -> list[tuple[str, str]]:
        if request.method != "POST":
            return parse_qsl(request.url.query, keep_blank_values=True)
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if raw.strip() and "json" in content_type:
            raise StripeError(
                400,
                f"Invalid request: unsupported Content-Type {content_type}. If error persists "
                "and you need assistance, please contact support@stripe.com.",
            )
        try:
            return parse_qsl(raw.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise StripeError(400, "Invalid request: the body is not UTF-8 text.") from None

    def endpoint(self, op: Operation | None) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            request_id = self.twin.ids.prefixed("req_", 14)
            exchange = Exchange(
                request_id,
                {"Request-Id": request_id, "Stripe-Version": self.stripe.default_version},
            )
            try:
                answer = await self.handle(op, request, exchange)
                if isinstance(answer, Response):
                    return answer  # an idempotent replay
                status, body = 200, answer
            except StripeError as exc:
                status, body = exc.status, exc.body(request_id, self.twin.clock.timestamp())
                exchange.replayable = exchange.replayable and _replayable(exc)
            except Exception:
                log.exception("mock-stripe: %s %s failed", request.method, request.url.path)
                error = StripeError(500, "An unknown error occurred", kind="api_error")
                status, body = 500, error.body(request_id)
                exchange.replayable = False
            finally:
                if exchange.key is not None and exchange.account is not None:
                    exchange.account.in_flight.discard(exchange.key)
            return self.finish(exchange, status, body)

        return run

    async def handle(self, op: Operation | None, request: Request, exchange: Exchange) -> Any:
        """Stripe's pipeline up to the operation's answer (expanded), or a replayed answer."""
        if op is None:
            mark_unmatched(request)  # the journal lists it, whatever Stripe answers first
        api_key = self.authenticate(request)
        version = request.headers.get("stripe-version", "").strip()
        if version:  # an empty header is no header: the account's version
            exchange.headers["Stripe-Version"] = checked(version)
        account = exchange.account = self.account(request, api_key)
        self.stripe.base_url = str(request.base_url).rstrip("/")
        self.sweep()
        self.later(self.webhooks.send(self.webhooks.due()))
        if op is None:
            raise unanswered(request.method, request.url.path)
        pairs = await self.pairs(request)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if key is not None:
            exchange.fingerprint = json.dumps([request.url.path, sorted(pairs)])
            replay = self.idempotent(account, key, exchange.fingerprint)
            if replay is not None:
                return self.replayed(replay, exchange.headers, key)
            account.in_flight.add(key)
            exchange.key, exchange.replayable = key, True
        params = Params(decode(pairs), op.params)
        call = exchange.call = Call(
            self.stripe,
            account,
            params,
            request.path_params,
            request.method,
            self.stripe.base_url,
            exchange.request_id,
            key,
            exchange.headers["Stripe-Version"],
        )
        return expand(call, op.handler(call), params.strings("expand"))

    def finish(self, exchange: Exchange, status: int, body: Obj) -> Response:
        """The answer: kept for its idempotency key, its events sent after it."""
        content = json.dumps(body, indent=2).encode()
        key, account = exchange.key, exchange.account
        if key is not None and account is not None:
            exchange.headers["Idempotency-Key"] = key
            if exchange.replayable:
                account.idempotency[key] = Replay(
                    exchange.fingerprint,
                    status,
                    content,
                    self.twin.clock.timestamp(),
                    exchange.request_id,
                )
        if exchange.call is not None and exchange.call.events:
            self.later(self.webhooks.send(self.webhooks.first_attempts(exchange.call.events)))
        return Response(content, status, exchange.headers, media_type="application/json")

    def idempotent(self, account: Account, key: str, fingerprint: str) -> Replay | None:
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise StripeError(
                400,
                f"Invalid idempotency key: must be at most {MAX_IDEMPOTENCY_KEY} characters.",
                param="Idempotency-Key",
            )
        now = self.twin.clock.timestamp()
        for stale in [
            k for k, r in account.idempotency.items() if r.at + IDEMPOTENCY_SECONDS <= now
        ]:
            del account.idempotency[stale]
        if key in account.in_flight:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still going "
                f"through): {key}. Please try again later.",
                kind="idempotency_error",
            )
        stored = account.idempotency.get(key)
        if stored is None:
            return None
        if stored.fingerprint != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                "were first used with. Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
                kind="idempotency_error",
            )
        return stored

    @staticmethod
    def replayed(replay: Replay, headers: dict[str, str], key: str) -> Response:
        headers = {
            **headers,
            "Idempotency-Key": key,
            "Idempotent-Replayed": "true",
            "Original-Request": replay.request_id,
        }
        return Response(replay.content, replay.status, headers, media_type="application/json")

    # hosted pages ------------------------------------------------------------------------------

    def find(self, kind: str, object_id: str) -> tuple[Account, Obj] | None:
        for account in self.stripe.accounts():
            found = account.store.find(kind, object_id)
            if found is not None:
                return account, found
        return None

    async def checkout_page(self, request: Request) -> Response:
        found = self.find("checkout.session", request.path_params["id"])
        if found is None:
            return HTMLResponse("<h1>Checkout session not found</h1>", status_code=404)
        session = found[1]
        return HTMLResponse(
            f"<h1>mock-stripe checkout</h1><p>{session['id']}: {session['status']}</p>"
            f"<p>Complete it with POST /_twin/checkout/{session['id']}/complete</p>"
        )

    async def portal_page(self, request: Request) -> Response:
        return HTMLResponse("<h1>mock-stripe billing portal</h1>")

    async def invoice_page(self, request: Request) -> Response:
        where = self.stripe.hosted.get(request.path_params["token"])
        found = self.find("invoice", where[1]) if where else None
        if found is None:
            return HTMLResponse("<h1>Invoice not found</h1>", status_code=404)
        invoice = found[1]
        return HTMLResponse(
            f"<h1>Invoice {invoice['number']}</h1><p>{invoice['status']}: "
            f"{invoice['amount_due']} {invoice['currency']}</p>"
        )

    # control -----------------------------------------------------------------------------------

    async def complete_checkout(self, request: Request) -> Response:
        found = self.find("checkout.session", request.path_params["id"])
        if found is None:
            return JSONResponse({"error": "no such checkout session"}, status_code=404)
        account, session = found
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return JSONResponse(
                {"error": 'send nothing, or {"payment_method": "pm_card_…", "email", "name"}'},
                status_code=400,
            )
        call = self.stripe.background_call(account)
        try:
            checkout.complete(
                call,
                session,
                str(body.get("payment_method") or "pm_card_visa"),
                email=body.get("email"),
                name=body.get("name"),
            )
        except StripeError as exc:
            deliveries = await self.webhooks.deliver_now(call.events)
            return JSONResponse(
                {
                    "error": exc.message,
                    "code": exc.code,
                    "decline_code": exc.decline_code,
                    "deliveries": deliveries,
                },
                status_code=exc.status if exc.status != 402 else 402,
            )
        deliveries = await self.webhooks.deliver_now(call.events)
        subscription = account.store.find("subscription", str(session["subscription"]))
        return JSONResponse(
            {
                "session": session,
                "subscription": subscription,
                "invoice": session["invoice"],
                "payment_intent": session["payment_intent"],
                "deliveries": deliveries,
            }
        )

    async def webhook_settings(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
                url = body["url"]
                if url is not None and not isinstance(url, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"error": 'send {"url": "http://…" or null}'}, status_code=400)
            self.webhooks.url = url
        return JSONResponse(
            {
                "url": self.webhooks.url,
                "secret_configured": True,
                "retry_schedule": list(self.webhooks.schedule),
            }
        )

    async def deliveries(self, request: Request) -> Response:
        return JSONResponse({"deliveries": self.webhooks.describe()})

    async def due(self, request: Request) -> Response:
        happened, outcomes = await self.run_due()
        return JSONResponse(
            {
                "events": [{"id": e["id"], "type": e["type"]} for e in happened],
                "deliveries": outcomes,
            }
        )

    async def accounts(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
                wanted = body.get("id") if isinstance(body, dict) else None
                if wanted is not None and (
                    not isinstance(wanted, str) or not wanted.startswith("acct_")
                ):
                    raise ValueError
            except ValueError:
                return JSONResponse({"error": 'send {} or {"id": "acct_…"}'}, status_code=400)
            account = self.stripe.add_account(wanted)
            return JSONResponse({"id": account.id}, status_code=201)
        return JSONResponse(
            {"platform": self.stripe.platform.id, "connected": sorted(self.stripe.connected)}
        )

    # routes ------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        api: list[BaseRoute] = [
            Route(op.path, self.endpoint(op), methods=[op.method]) for op in routing_order()
        ]
        return [
            *api,
            Route("/c/pay/{id}", self.checkout_page, methods=["GET"]),
            Route("/p/session/{token}", self.portal_page, methods=["GET"]),
            Route("/i/{token}", self.invoice_page, methods=["GET"]),
            Route("/i/{token}/pdf", self.invoice_page, methods=["GET"]),
            Route("/v1/{rest:path}", self.endpoint(None), methods=ALL_METHODS),
        ]

    def control(self) -> list[BaseRoute]:
        return [
            Route("/checkout/{id}/complete", self.complete_checkout, methods=["POST"]),
            Route("/webhooks", self.webhook_settings, methods=["GET", "POST"]),
            Route("/webhooks/deliveries", self.deliveries, methods=["GET"]),
            Route("/due", self.due, methods=["POST"]),
            Route("/accounts", self.accounts, methods=["GET", "POST"]),
        ]


def _replayable(error: StripeError) -> bool:
    """Stripe saves an idempotent answer once the request began to run, not for bad input."""
    if error.status in (401, 403, 409, 429) or error.status >= 500:
        return False
    return not (error.code or "").startswith("parameter_") and error.kind != "idempotency_error"


class RunsWhatIsDue:
    """Runs what the twin's clock made due after each control request, before its answer."""

    def __init__(self, app: ASGIApp, stripe: StripeTwin) -> None:
        self.app = app
        self.stripe = stripe
        self.twin = stripe.twin  # the test suite and tools find the twin here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or not path.startswith(CONTROL_PREFIX + "/")
            or path in (f"{CONTROL_PREFIX}/due", f"{CONTROL_PREFIX}/reset")
        ):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await self.stripe.run_due()
        for message in held:
            await send(message)


def create_app(env: Mapping[str, str] | None = None) -> ASGIApp:
    twin = StripeTwin(environment(env))
    return RunsWhatIsDue(build_app(twin.twin, twin.routes(), twin.control()), twin)
