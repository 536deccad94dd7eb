"""Salesforce's REST actions against a local stand-in of its documented API.

Reference: developer.salesforce.com/docs/atlas.en-us.api_rest.meta.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_salesforce.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-salesforce"


TOKEN = "00D.token"


@pytest.fixture
def salesforce() -> Iterator[StandIn]:
    api = StandIn(
        auth=BearerAuth(TOKEN),
        unauthorized=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )

    @api.route("GET", "/services/data/v60.0/query")
    def query(request: Recorded) -> Reply:
        return Reply(
            200,
            {
                "totalSize": 3,
                "done": False,
                "records": [{"Id": "001A"}, {"Id": "001B"}],
                "nextRecordsUrl": "/services/data/v60.0/query/01gD-2000",
            },
        )

    api.reply(
        "GET", "/services/data/v60.0/query/{locator}", {"totalSize": 3, "done": True, "records": [{"Id": "001C"}]}
    )

    @api.route("POST", "/services/data/v60.0/sobjects/{sobject}")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        if "LastName" not in body:
            return Reply(
                400, [{"message": "Required fields are missing: [LastName]", "errorCode": "REQUIRED_FIELD_MISSING"}]
            )
        return Reply(201, {"id": "00Q1", "success": True, "errors": []})

    with api:
        yield api


def test_query_follows_next_records_url(salesforce: StandIn) -> None:
    out = call(
        plugin.action("query"),
        {"query": {"q": "SELECT Id FROM Account"}},
        config={"base_url": salesforce.url, "max_pages": 3},
        secrets={"access_token": TOKEN},
    )
    assert [r["Id"] for r in out["data"]] == ["001A", "001B", "001C"]


def test_create_record_takes_any_fields_and_names_missing_ones(salesforce: StandIn) -> None:
    out = call(
        plugin.action("create_record"),
        {"path": {"sobject": "Lead"}, "body": {"LastName": "Lovelace", "Company": "Acme"}},
        config={"base_url": salesforce.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["id"] == "00Q1"
    with pytest.raises(NonRetryableError, match=r"Required fields are missing: \[LastName\]"):
        call(
            plugin.action("create_record"),
            {"path": {"sobject": "Lead"}, "body": {"Company": "Acme"}},
            config={"base_url": salesforce.url},
            secrets={"access_token": TOKEN},
        )
