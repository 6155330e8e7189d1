"""Events, webhook endpoints and billing portal sessions.

``/v1/events`` lists what happened in the account, newest first, for 30 days as Stripe keeps
them. ``/v1/webhook_endpoints`` registers where events are delivered: the endpoint's ``secret``
(``whsec_…``) is in the answer to create only, as on Stripe. ``/v1/billing_portal/sessions``
opens the customer portal (a page of the twin).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from converge_twins.mock_stripe.api import names, operation
from converge_twins.mock_stripe.errors import StripeError, invalid, missing, param_missing
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page
from converge_twins.mock_stripe.versions import checked

RETENTION_SECONDS = 30 * 86_400
MAX_ENDPOINTS = 16  # Stripe's limit of webhook endpoints per account and mode
EVENT_TYPE = re.compile(r"^\*$|^[a-z_]+(\.[a-z_]+)+$")
ENDPOINT_FIELDS = frozenset(
    {"api_version", "connect", "description", "enabled_events", "metadata", "url"}
)
ENDPOINT_UPDATES = frozenset({"description", "disabled", "enabled_events", "metadata", "url"})


# --- events -----------------------------------------------------------------------------------


@operation(
    "events.list",
    "GET",
    "/v1/events",
    {"created", "delivery_success", "type", "types"},
    listing=True,
)
def list_events(call: Call) -> Obj:
    params = call.params
    kind, kinds = params.text("type"), set(params.strings("types"))
    if kind and kinds:
        raise StripeError(
            400, "You may only specify one of these parameters: type, types.", param="types"
        )
    pattern = re.compile("^" + re.escape(kind).replace(r"\*", "[^.]+") + "$") if kind else None
    oldest = call.now() - RETENTION_SECONDS
    created = created_filter(params)
    delivered = params.boolean("delivery_success")
    items = call.store.newest_first(
        "event",
        lambda e: (
            e["created"] >= oldest
            and (pattern is None or pattern.match(e["type"]) is not None)
            and (not kinds or e["type"] in kinds)
            and (delivered is None or (e["pending_webhooks"] == 0) == delivered)
            and created(e)
        ),
    )
    return page(items, params, "/v1/events", "event")


@operation("events.retrieve", "GET", "/v1/events/{id}")
def retrieve_event(call: Call) -> Obj:
    return call.store.get("event", call.path["id"])


# --- webhook endpoints --------------------------------------------------------------------------


def _url(call: Call, required: bool) -> str | None:
    value = call.params.text("url", required=required, max_length=5000)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("url", f"Invalid URL: {value}. URLs must begin with http:// or https://")
    return value


def _enabled_events(call: Call) -> list[str]:
    events = call.params.strings("enabled_events")
    if not events:
        raise param_missing("enabled_events")
    for index, kind in enumerate(events):
        if not EVENT_TYPE.match(kind):
            raise invalid(f"enabled_events[{index}]", f"Invalid event type: {kind}")
    return events


@operation("webhook_endpoints.create", "POST", "/v1/webhook_endpoints", ENDPOINT_FIELDS)
def create_endpoint(call: Call) -> Obj:
    url = _url(call, required=True)
    events = _enabled_events(call)
    if len(call.store.newest_first("webhook_endpoint")) >= MAX_ENDPOINTS:
        raise StripeError(
            400, f"You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."
        )
    version = call.params.text("api_version")
    connect = call.params.boolean("connect") is True
    if connect and call.connected:
        raise invalid(
            "connect",
            "Only a platform's own endpoints listen to its connected accounts (connect=true).",
        )
    endpoint: Obj = {
        "id": call.new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": checked(version) if version else None,
        "application": None,
        "created": call.now(),
        "description": call.params.text("description"),
        "enabled_events": events,
        "livemode": False,
        "metadata": call.params.metadata(),
        "status": "enabled",
        "url": url,
    }
    call.store.put(endpoint)
    secret = f"whsec_{call.token(32)}"
    if call.stripe.webhooks is not None:
        call.stripe.webhooks.secrets[endpoint["id"]] = secret
        if connect:
            call.stripe.webhooks.connect_endpoints.add(endpoint["id"])
    return {**endpoint, "secret": secret}


@operation("webhook_endpoints.retrieve", "GET", "/v1/webhook_endpoints/{webhook_endpoint}")
def retrieve_endpoint(call: Call) -> Obj:
    return call.store.get("webhook_endpoint", call.path["webhook_endpoint"])


@operation(
    "webhook_endpoints.update", "POST", "/v1/webhook_endpoints/{webhook_endpoint}", ENDPOINT_UPDATES
)
def update_endpoint(call: Call) -> Obj:
    endpoint = call.store.get("webhook_endpoint", call.path["webhook_endpoint"])
    values: Obj = {}
    if "url" in call.params:
        values["url"] = _url(call, required=True)
    if "enabled_events" in call.params:
        values["enabled_events"] = _enabled_events(call)
    if "description" in call.params:
        values["description"] = call.params.text("description")
    if "disabled" in call.params:
        values["status"] = "disabled" if call.params.boolean("disabled") else "enabled"
    if "metadata" in call.params:
        values["metadata"] = call.params.metadata(endpoint["metadata"])
    changed(endpoint, values)
    return endpoint


@operation("webhook_endpoints.delete", "DELETE", "/v1/webhook_endpoints/{webhook_endpoint}")
def delete_endpoint(call: Call) -> Obj:
    endpoint = call.store.get("webhook_endpoint", call.path["webhook_endpoint"])
    call.store.remove("webhook_endpoint", endpoint["id"])
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


@operation("webhook_endpoints.list", "GET", "/v1/webhook_endpoints", listing=True)
def list_endpoints(call: Call) -> Obj:
    items = call.store.newest_first("webhook_endpoint")
    return page(items, call.params, "/v1/webhook_endpoints", "webhook_endpoint")


# --- billing portal --------------------------------------------------------------------------


@operation(
    "billing_portal.sessions.create",
    "POST",
    "/v1/billing_portal/sessions",
    names(
        """
        configuration customer customer_account flow_data locale on_behalf_of return_url
        """
    ),
)
def create_portal_session(call: Call) -> Obj:
    customer_id = call.params.required_text("customer")
    if call.store.was_deleted("customer", customer_id):
        raise missing("customer", customer_id, "customer")
    call.store.get("customer", customer_id, "customer")
    configuration = call.params.text("configuration") or call.account.portal_configuration
    if configuration != call.account.portal_configuration:
        raise missing("configuration", configuration, "configuration")
    token = call.token(32)
    session: Obj = {
        "id": call.new_id("bps_"),
        "object": "billing_portal.session",
        "configuration": configuration,
        "created": call.now(),
        "customer": customer_id,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": call.params.text("locale"),
        "on_behalf_of": call.params.text("on_behalf_of"),
        "return_url": call.params.text("return_url"),
        "url": f"{call.stripe.base_url}/p/session/{token}",
    }
    call.store.put(session)
    call.emit("billing_portal.session.created", session)
    return session
