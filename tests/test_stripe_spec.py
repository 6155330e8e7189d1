"""The validator every mock-stripe response goes through: Stripe's 2023 spec, adapted to today.

The adaptation must be exactly what today's objects need: each relaxed field is one the current
fixtures lack, and with the relaxations every current fixture validates.
"""

from __future__ import annotations

import copy

import pytest

from converge_twins.conformance.stripe_spec import (
    NO_LONGER_REQUIRED,
    StripeSpec,
    field_coverage,
    fixtures,
)


@pytest.fixture(scope="module")
def spec() -> StripeSpec:
    return StripeSpec()


@pytest.mark.parametrize("kind", sorted(fixtures()))
def test_every_current_fixture_is_valid_against_the_adapted_spec(spec, kind):
    assert spec.object_problems(fixtures()[kind], kind) == []


def test_every_relaxed_field_is_one_the_plain_2023_spec_would_demand():
    plain = StripeSpec(adapted=False)
    problems = "\n".join(
        problem for kind in fixtures() for problem in plain.object_problems(fixtures()[kind], kind)
    )
    for fields in NO_LONGER_REQUIRED.values():
        for name in fields:
            assert f"'{name}' is a required property" in problems


def test_a_missing_required_field_is_named(spec):
    customer = copy.deepcopy(fixtures()["customer"])
    del customer["livemode"]
    problems = spec.response_problems("GET", "/v1/customers/cus_1", 200, customer)
    assert problems == ["GET /v1/customers/cus_1 -> 200: (body): 'livemode' is a required property"]


def test_a_wrong_type_is_named_with_its_path(spec):
    price = copy.deepcopy(fixtures()["price"])
    price["recurring"]["interval_count"] = "1"
    problems = spec.response_problems("POST", "/v1/prices", 200, price)
    assert len(problems) == 1
    assert "recurring/interval_count" in problems[0]


def test_a_field_new_since_2023_must_have_the_current_type(spec):
    item = copy.deepcopy(fixtures()["subscription_item"])
    item["current_period_end"] = "soon"
    problems = spec.response_problems("GET", "/v1/subscription_items/si_1", 200, item)
    assert problems == [
        "GET /v1/subscription_items/si_1 -> 200: subscription_item.current_period_end is "
        "string, current objects have integer"
    ]


def test_a_literal_path_beats_a_parameter(spec):
    operation = spec.operation("GET", "/v1/customers/search")
    assert operation is not None and operation.template == "/v1/customers/search"
    by_id = spec.operation("GET", "/v1/customers/cus_123")
    assert by_id is not None and by_id.template == "/v1/customers/{customer}"


def test_errors_are_validated_against_the_error_schema(spec):
    good = {"error": {"type": "invalid_request_error", "message": "No such customer: 'x'"}}
    assert spec.response_problems("GET", "/v1/customers/x", 404, good) == []
    bad = {"error": {"message": "no type"}}
    assert spec.response_problems("GET", "/v1/customers/x", 404, bad)


def test_operations_outside_the_spec_are_validated_by_their_object(spec):
    invoice = copy.deepcopy(fixtures()["invoice"])
    assert spec.response_problems("POST", "/v1/invoices/in_1/finalize", 200, invoice) == []
    del invoice["lines"]
    assert spec.response_problems("POST", "/v1/invoices/in_1/finalize", 200, invoice)


def test_an_event_payload_is_validated_as_the_object_it_carries(spec):
    customer = copy.deepcopy(fixtures()["customer"])
    event = {**fixtures()["event"], "type": "customer.created", "data": {"object": customer}}
    assert spec.response_problems("GET", "/v1/events/evt_1", 200, event) == []
    del customer["created"]
    assert spec.response_problems("GET", "/v1/events/evt_1", 200, event)


def test_field_coverage_counts_the_current_fields():
    product = {key: value for key, value in fixtures()["product"].items() if key != "url"}
    present, total, missing = field_coverage("product", product)
    assert (present, total, missing) == (total - 1, len(fixtures()["product"]), ["url"])


def test_the_suite_notices_a_twin_response_that_breaks_the_spec(stripe_twin, stripe_sdk):
    from tests.support.stripe_responses import current_log

    stripe_twin.control(
        "POST",
        "/faults",
        json={"path": "/v1/customers", "status": 400, "body": {"error": {"message": "no type"}}},
    )
    assert stripe_twin.api("GET", "/v1/customers").status_code == 400
    stripe_sdk.v1.customers.list()
    log = current_log()
    assert log.responses == 2
    assert log.problems == ["GET /v1/customers -> 400: error: 'type' is a required property"]
    log.problems.clear()  # seen: this test's own teardown check must not fail on it


def test_a_twin_in_another_process_writes_its_problems_to_a_file(tmp_path, monkeypatch):
    import httpx

    from tests.support.asgi import serve_asgi
    from tests.support.stripe_responses import PROBLEMS_FILE_VARIABLE, create_validating_app

    problems = tmp_path / "problems.txt"
    app = create_validating_app({PROBLEMS_FILE_VARIABLE: str(problems), "TWIN_SEED": "p"})
    monkeypatch.setattr(app, "twin", None)  # not mock-stripe to the suite's own wrapper
    with serve_asgi(app) as base:
        httpx.post(
            f"{base}/_twin/faults",
            json={"path": "/v1/prices", "status": 402, "body": {"error": {"message": "no"}}},
        )
        auth = {"Authorization": "Bearer sk_test_x"}
        assert httpx.get(f"{base}/v1/prices", headers=auth).status_code == 402
        assert httpx.get(f"{base}/v1/prices", headers=auth).status_code == 200
    assert problems.read_text().splitlines() == [
        "GET /v1/prices -> 402: error: 'type' is a required property"
    ]
