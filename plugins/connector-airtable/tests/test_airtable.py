"""Airtable's actions and trigger against a local stand-in of its documented API (airtable.com/developers/web/api)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_airtable.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-airtable"


TOKEN = "patXYZ"
RECORDS = [
    {"id": f"rec{n}", "createdTime": f"2026-01-0{n}T00:00:00.000Z", "fields": {"Name": f"r{n}"}} for n in (1, 2, 3)
]


@pytest.fixture
def airtable() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"error": {"type": "AUTHENTICATION_REQUIRED"}})

    @api.route("GET", "/v0/{base}/{table}")
    def records(request: Recorded) -> Reply:
        start = int(request.arg("offset") or 0)
        page = RECORDS[start : start + 2]
        more = {"offset": str(start + 2)} if start + 2 < len(RECORDS) else {}
        return Reply(200, {"records": page, **more})

    @api.route("POST", "/v0/{base}/{table}")
    def create(request: Recorded) -> Reply:
        if request.params["table"] == "Locked":
            return Reply(422, {"error": {"type": "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"}})
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"records": [{"id": "recNew", **r} for r in body["records"]]})

    with api:
        yield api


def test_list_records_follows_the_offset(airtable: StandIn) -> None:
    out = call(
        plugin.action("list_records"),
        {"path": {"base_id": "app1", "table": "Tasks"}, "query": {"view": "Grid"}},
        config={"base_url": airtable.url, "max_pages": 5},
        secrets={"api_key": TOKEN},
    )
    assert [r["id"] for r in out["data"]] == ["rec1", "rec2", "rec3"]
    assert airtable.last().arg("view") == "Grid"


def test_create_records_and_a_422_names_the_services_error(airtable: StandIn) -> None:
    body = {"records": [{"fields": {"Name": "Ship"}}]}
    out = call(
        plugin.action("create_records"),
        {"path": {"base_id": "app1", "table": "Tasks"}, "body": body},
        config={"base_url": airtable.url},
        secrets={"api_key": TOKEN},
    )
    assert out["data"]["records"][0]["id"] == "recNew"
    with pytest.raises(NonRetryableError, match="INVALID_PERMISSIONS"):
        call(
            plugin.action("create_records"),
            {"path": {"base_id": "app1", "table": "Locked"}, "body": body},
            config={"base_url": airtable.url},
            secrets={"api_key": TOKEN},
        )
