"""Shopify's Admin API actions against a local stand-in of its documented API (shopify.dev/docs/api/admin-rest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_shopify.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import ApiKeyAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-shopify"


TOKEN = "shpat_123"


@pytest.fixture
def shopify() -> Iterator[StandIn]:
    api = StandIn(
        auth=ApiKeyAuth(TOKEN, header="X-Shopify-Access-Token"),
        unauthorized={"errors": "[API] Invalid API key or access token"},
    )

    @api.route("GET", "/admin/api/2024-10/orders.json")
    def orders(request: Recorded) -> Reply:
        if request.arg("page_info") == "abc":
            return Reply(200, {"orders": [{"id": 2}]})
        link = f'<{api.url}/admin/api/2024-10/orders.json?limit=1&page_info=abc>; rel="next"'
        return Reply(200, {"orders": [{"id": 1}]}, {"Link": link})

    api.reply("POST", "/admin/api/2024-10/products.json", {"errors": {"title": ["can't be blank"]}}, status=422)
    with api:
        yield api


def test_orders_follow_the_link_header_with_page_info(shopify: StandIn) -> None:
    out = call(
        plugin.action("list_orders"),
        {"query": {"status": "any"}},
        config={"base_url": shopify.url + "/admin/api/2024-10", "max_pages": 3},
        secrets={"api_key": TOKEN, "shop": "acme"},
    )
    assert [o["id"] for o in out["data"]] == [1, 2]
    assert shopify.last().arg("page_info") == "abc" and shopify.last().arg("status") is None


def test_a_422_names_the_field(shopify: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="can't be blank"):
        call(
            plugin.action("create_product"),
            {"body": {"product": {"title": ""}}},
            config={"base_url": shopify.url + "/admin/api/2024-10"},
            secrets={"api_key": TOKEN, "shop": "acme"},
        )
