"""Notion's actions against a local stand-in of its documented API (developers.notion.com/reference)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_notion.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-notion"


TOKEN = "secret_notion"


@pytest.fixture
def notion() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"object": "error", "status": 401, "code": "unauthorized"})

    @api.route("POST", "/v1/databases/{database_id}/query")
    def query(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        if body.get("start_cursor") == "c2":
            return Reply(200, {"object": "list", "results": [{"id": "r3"}], "next_cursor": None, "has_more": False})
        return Reply(
            200, {"object": "list", "results": [{"id": "r1"}, {"id": "r2"}], "next_cursor": "c2", "has_more": True}
        )

    api.reply("POST", "/v1/pages", {"object": "page", "id": "p1"})
    with api:
        yield api


def test_query_database_follows_start_cursor_in_the_body(notion: StandIn) -> None:
    out = call(
        plugin.action("query_database"),
        {"path": {"database_id": "d1"}, "body": {}},
        config={"base_url": notion.url, "max_pages": 5},
        secrets={"access_token": TOKEN},
    )
    assert [r["id"] for r in out["data"]] == ["r1", "r2", "r3"]
    assert notion.last().json == {"start_cursor": "c2"}
    assert notion.last().headers["notion-version"] == "2022-06-28"


def test_create_page_sends_parent_and_properties(notion: StandIn) -> None:
    body = {"parent": {"database_id": "d1"}, "properties": {"Name": {"title": []}}}
    out = call(
        plugin.action("create_page"), {"body": body}, config={"base_url": notion.url}, secrets={"access_token": TOKEN}
    )
    assert out["data"]["id"] == "p1" and notion.last().json == body
    with pytest.raises(NonRetryableError, match="401"):
        call(
            plugin.action("create_page"), {"body": body}, config={"base_url": notion.url}, secrets={"access_token": "x"}
        )
