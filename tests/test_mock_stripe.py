"""mock-stripe's request pipeline, through the official ``stripe`` SDK and raw form posts.

Stripe's documented behaviours (the conformance suite, ``converge_twins/conformance/stripe.py``)
run against the twin in ``tests/test_conformance_stripe.py``; the tests here pin the pipeline's
details: keys, versions, accounts, idempotency, parameters, errors, pagination, expand, search,
unknown and unsupported operations.
"""

from __future__ import annotations

import base64

import httpx
import pytest
import stripe

from converge_twins.mock_stripe.forms import decode
from tests.support.stripe_twin import KEY, StripeTwin, open_checkout, recurring_price

# --- keys ---------------------------------------------------------------------------------------


def test_live_key_is_refused_with_stripes_401(stripe_twin: StripeTwin):
    client = stripe.StripeClient(
        "sk_live_abcdefghijklmnop", base_addresses={"api": stripe_twin.url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.customers.create(params={"email": "x@example.com"})
    assert caught.value.http_status == 401
    body = stripe_twin.api(
        "GET", "/v1/customers", headers={"Authorization": "Bearer sk_live_abcdefghijklmnop"}
    ).json()
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("Invalid API Key provided: sk_live_")
    assert "abcdefghijkl" not in body["error"]["message"]


def test_missing_key_is_401(stripe_twin: StripeTwin):
    response = httpx.get(f"{stripe_twin.url}/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You did not provide an API key")


def test_publishable_key_is_refused(stripe_twin: StripeTwin):
    response = stripe_twin.api(
        "GET", "/v1/customers", headers={"Authorization": "Bearer pk_test_abcdefghijkl"}
    )
    assert response.status_code == 401
    assert "publishable API key" in response.json()["error"]["message"]


def test_basic_auth_with_the_key_as_user_works(stripe_twin: StripeTwin):
    token = base64.b64encode(f"{KEY}:".encode()).decode()
    response = stripe_twin.api("GET", "/v1/customers", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200


# --- versions and accounts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("2020-08-27", True),
        ("2024-06-20", True),
        ("2025-03-31.basil", True),
        (stripe.api_version, True),
        ("2020-13-45", False),
        ("2019-2-19", False),
        ("2025-03-31", False),  # named era without its name
        ("2020-08-27.basil", False),  # a name before names existed
        ("2025-03-31.zinnia", False),
        ("2099-01-01.endive", False),  # after the twin's newest version
        ("latest", False),
    ],
)
def test_stripe_version_is_checked(stripe_twin: StripeTwin, version, accepted):
    response = stripe_twin.api("GET", "/v1/customers", headers={"Stripe-Version": version})
    if accepted:
        assert response.status_code == 200
        assert response.headers["stripe-version"] == version
    else:
        assert response.status_code == 400
        assert response.json()["error"]["message"] == f"Invalid Stripe API version: {version}"


def test_connected_accounts_are_isolated_and_unknown_ones_refused(
    stripe_twin: StripeTwin, stripe_sdk
):
    account = stripe_twin.control("POST", "/accounts", json={}).json()["id"]
    mine = stripe_sdk.v1.customers.create(
        params={"email": "connected@example.com"}, options={"stripe_account": account}
    )
    assert mine.id.startswith("cus_")
    platform = stripe_sdk.v1.customers.list()
    assert mine.id not in [c.id for c in platform.data]
    connected = stripe_sdk.v1.customers.list(options={"stripe_account": account})
    assert [c.id for c in connected.data] == [mine.id]
    events = stripe_sdk.v1.events.list(options={"stripe_account": account})
    assert events.data[0]["account"] == account
    with pytest.raises(stripe.PermissionError) as caught:
        stripe_sdk.v1.customers.list(options={"stripe_account": "acct_unknown000000"})
    assert caught.value.error is not None and caught.value.error.code == "account_invalid"
    listed = stripe_twin.control("GET", "/accounts").json()
    assert listed["connected"] == [account]


# --- idempotency --------------------------------------------------------------------------------


def test_idempotency_key_replays_the_same_response(stripe_twin: StripeTwin):
    headers = {"Idempotency-Key": "key-1"}
    first = stripe_twin.api(
        "POST", "/v1/customers", data={"email": "i@example.com"}, headers=headers
    )
    again = stripe_twin.api(
        "POST", "/v1/customers", data={"email": "i@example.com"}, headers=headers
    )
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["original-request"] == first.headers["request-id"]
    assert len(stripe_twin.api("GET", "/v1/customers").json()["data"]) == 1


def test_parameter_errors_are_not_replayed(stripe_twin: StripeTwin):
    headers = {"Idempotency-Key": "key-bad"}
    bad = stripe_twin.api("POST", "/v1/customers", data={"emial": "x"}, headers=headers)
    assert bad.status_code == 400
    good = stripe_twin.api(
        "POST", "/v1/customers", data={"email": "x@example.com"}, headers=headers
    )
    assert good.status_code == 200


def test_idempotency_keys_expire_after_a_day(stripe_twin: StripeTwin):
    headers = {"Idempotency-Key": "key-day"}
    stripe_twin.api("POST", "/v1/customers", data={"email": "a@example.com"}, headers=headers)
    stripe_twin.advance(86_400)
    other = stripe_twin.api(
        "POST", "/v1/customers", data={"email": "b@example.com"}, headers=headers
    )
    assert other.status_code == 200
    assert "idempotent-replayed" not in other.headers


def test_idempotency_keys_belong_to_one_account(stripe_twin: StripeTwin):
    account = stripe_twin.control("POST", "/accounts", json={"id": "acct_second0000000"}).json()[
        "id"
    ]
    headers = {"Idempotency-Key": "shared"}
    first = stripe_twin.api(
        "POST", "/v1/customers", data={"email": "a@example.com"}, headers=headers
    )
    other = stripe_twin.api(
        "POST",
        "/v1/customers",
        data={"email": "b@example.com"},
        headers={**headers, "Stripe-Account": account},
    )
    assert other.status_code == 200
    assert other.json()["id"] != first.json()["id"]


# --- parameters and errors ----------------------------------------------------------------------


def test_missing_and_unknown_params_name_the_param(stripe_twin: StripeTwin):
    missing = stripe_twin.api("POST", "/v1/checkout/sessions", data={"success_url": "http://x"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "mode"
    assert missing.json()["error"]["code"] == "parameter_missing"
    unknown = stripe_twin.api("POST", "/v1/customers", data={"emial": "x@example.com"})
    error = unknown.json()["error"]
    assert error["message"] == "Received unknown parameter: emial"
    assert (error["code"], error["param"], error["type"]) == (
        "parameter_unknown",
        "emial",
        "invalid_request_error",
    )
    assert error["doc_url"] == "https://stripe.com/docs/error-codes/parameter-unknown"
    assert unknown.headers["request-id"] in error["request_log_url"]


def test_a_json_body_is_refused_as_stripe_refuses_it(stripe_twin: StripeTwin):
    response = stripe_twin.api("POST", "/v1/customers", json={"email": "j@example.com"})
    assert response.status_code == 400
    assert "unsupported Content-Type" in response.json()["error"]["message"]


def test_invalid_currency_and_amount_are_refused(stripe_sdk):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_sdk.v1.prices.create(
            params={"currency": "xyz", "unit_amount": 100, "product_data": {"name": "x"}}
        )
    assert caught.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_sdk.v1.prices.create(
            params={"currency": "usd", "unit_amount": -1, "product_data": {"name": "x"}}
        )
    assert caught.value.param == "unit_amount"


def test_unknown_path_is_unrecognized_and_unsupported_operation_named(stripe_twin: StripeTwin):
    unknown = stripe_twin.api("DELETE", "/v1/customerz/x")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith(
        "Unrecognized request URL (DELETE: /v1/customerz/x)."
    )
    wrong_method = stripe_twin.api("PUT", "/v1/customers")
    assert wrong_method.status_code == 404
    unsupported = stripe_twin.api("POST", "/v1/payment_intents/pi_1/verify_microdeposits")
    assert unsupported.status_code == 400
    error = unsupported.json()["error"]
    assert "payment_intents.verify_microdeposits" in error["message"]
    assert error["code"] == "twin_unsupported_operation"
    assert "doc_url" not in error
    elsewhere = stripe_twin.api("GET", "/v1/coupons")
    assert elsewhere.status_code == 400
    assert "coupons.list" in elsewhere.json()["error"]["message"]


def test_search_is_not_mistaken_for_an_object_id(stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "s@example.com", "name": "Ada"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_sdk.v1.customers.search(params={"query": "name~'ad'"})  # ~ takes 3 characters
    assert caught.value.param == "query"
    found = stripe_sdk.v1.customers.search(params={"query": "name~'Ada' OR email:'nobody'"})
    assert [c.id for c in found.data] == [customer.id]


def test_fault_answers_with_a_stripe_error_body(stripe_twin: StripeTwin, stripe_sdk):
    stripe_twin.control(
        "POST", "/faults", json={"method": "POST", "path": "/v1/customers", "status": 429}
    )
    with pytest.raises(stripe.RateLimitError) as caught:
        stripe_sdk.v1.customers.create(params={"email": "r@example.com"})
    assert caught.value.error is not None and caught.value.error.code == "rate_limit"


def test_same_seed_gives_the_same_ids_after_reset(stripe_twin: StripeTwin, stripe_sdk):
    first = stripe_sdk.v1.customers.create(params={"email": "d@example.com"}).id
    stripe_twin.control("POST", "/reset")
    assert stripe_sdk.v1.customers.create(params={"email": "d@example.com"}).id == first
    assert stripe_sdk.v1.customers.list().data[0].id == first


def test_list_filters_by_created_range(stripe_twin: StripeTwin, stripe_sdk):
    old = stripe_sdk.v1.customers.create(params={"name": "old"})
    stripe_twin.advance(3600)
    new = stripe_sdk.v1.customers.create(params={"name": "new"})
    recent = stripe_sdk.v1.customers.list(params={"created": {"gt": old.created}})
    assert [c.id for c in recent.data] == [new.id]
    early = stripe_sdk.v1.customers.list(params={"created": {"lte": old.created}})
    assert [c.id for c in early.data] == [old.id]


def test_expand_on_a_list_needs_the_data_prefix(stripe_twin: StripeTwin):
    response = stripe_twin.api("GET", "/v1/subscriptions", params={"expand[]": "customer"})
    assert response.status_code == 400
    assert "try expanding 'data.customer'" in response.json()["error"]["message"]


def test_expand_line_items_of_a_checkout_session(stripe_sdk):
    session = open_checkout(stripe_sdk)
    expanded = stripe_sdk.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items"]}
    )
    assert expanded.line_items is not None
    assert [item.quantity for item in expanded.line_items.data] == [1]
    plain = stripe_sdk.v1.checkout.sessions.retrieve(session.id)
    assert "line_items" not in plain


def test_search_total_count_only_when_expanded(stripe_twin: StripeTwin, stripe_sdk):
    recurring_price(stripe_sdk)
    query = {"query": "currency:'usd'"}
    plain = stripe_twin.api("GET", "/v1/prices/search", params=query).json()
    assert "total_count" not in plain
    counted = stripe_twin.api(
        "GET", "/v1/prices/search", params={**query, "expand[]": "total_count"}
    ).json()
    assert counted["total_count"] == 1


def test_decode_reads_bracket_notation():
    pairs = [
        ("line_items[0][price]", "p"),
        ("line_items[0][quantity]", "2"),
        ("metadata[k]", "v"),
        ("expand[]", "a"),
        ("expand[]", "b"),
    ]
    assert decode(pairs) == {
        "line_items": [{"price": "p", "quantity": "2"}],
        "metadata": {"k": "v"},
        "expand": ["a", "b"],
    }
