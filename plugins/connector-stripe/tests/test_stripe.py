"""Stripe's actions against a local stand-in of its documented API (docs.stripe.com/api)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_stripe.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-stripe"


KEY = "sk_test_123"


@pytest.fixture
def stripe() -> Iterator[StandIn]:
    api = StandIn(
        auth=BearerAuth(KEY),
        unauthorized={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
    )

    @api.route("POST", "/v1/customers")
    def create(request: Recorded) -> Reply:
        return Reply(
            200,
            {
                "id": "cus_1",
                "object": "customer",
                "email": request.form["email"],
                "metadata": {"plan": request.form["metadata[plan]"]},
            },
        )

    @api.route("GET", "/v1/customers")
    def customers(request: Recorded) -> Reply:
        after = request.arg("starting_after")
        if after is None:
            return Reply(200, {"object": "list", "data": [{"id": "cus_3"}, {"id": "cus_2"}], "has_more": True})
        assert after == "cus_2"
        return Reply(200, {"object": "list", "data": [{"id": "cus_1"}], "has_more": False})

    api.reply(
        "POST",
        "/v1/payment_intents",
        {"error": {"type": "card_error", "message": "Your card was declined."}},
        status=402,
    )
    with api:
        yield api


def test_create_customer_sends_a_form_with_bracketed_metadata(stripe: StandIn) -> None:
    out = call(
        plugin.action("create_customer"),
        {"body": {"email": "ada@example.com", "metadata": {"plan": "pro"}}},
        config={"base_url": stripe.url},
        secrets={"api_key": KEY},
        idempotency_key="run-1/node/0",
    )
    assert out["data"]["id"] == "cus_1" and out["data"]["metadata"] == {"plan": "pro"}
    sent = stripe.last()
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["idempotency-key"] == "run-1/node/0" and sent.headers["stripe-version"] == "2024-06-20"


def test_list_customers_pages_with_starting_after_the_last_id(stripe: StandIn) -> None:
    out = call(
        plugin.action("list_customers"), {}, config={"base_url": stripe.url, "max_pages": 5}, secrets={"api_key": KEY}
    )
    assert [c["id"] for c in out["data"]] == ["cus_3", "cus_2", "cus_1"] and out["next"] is None


def test_a_declined_card_is_not_retried(stripe: StandIn) -> None:
    with pytest.raises(NonRetryableError, match=r"402.*Your card was declined"):
        call(
            plugin.action("create_payment_intent"),
            {"body": {"amount": 500, "currency": "eur"}},
            config={"base_url": stripe.url},
            secrets={"api_key": KEY},
        )
