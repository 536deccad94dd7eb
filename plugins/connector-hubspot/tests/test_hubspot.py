"""HubSpot's CRM actions against a local stand-in of its documented API (developers.hubspot.com/docs/api/crm)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_hubspot.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-hubspot"


TOKEN = "pat-na1-123"


@pytest.fixture
def hubspot() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"status": "error", "category": "INVALID_AUTHENTICATION"})

    @api.route("POST", "/crm/v3/objects/contacts")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        props = body["properties"]
        assert isinstance(props, dict)
        if props.get("email") == "taken@example.com":
            return Reply(
                409, {"status": "error", "message": "Contact already exists. Existing ID: 51", "category": "CONFLICT"}
            )
        return Reply(201, {"id": "51", "properties": props, "createdAt": "2026-01-01T00:00:00Z"})

    @api.route("GET", "/crm/v3/objects/contacts")
    def contacts(request: Recorded) -> Reply:
        if request.arg("after") == "2":
            return Reply(200, {"results": [{"id": "2"}]})
        return Reply(200, {"results": [{"id": "1"}], "paging": {"next": {"after": "2", "link": "x"}}})

    with api:
        yield api


def test_create_contact_and_a_conflict_names_the_existing_id(hubspot: StandIn) -> None:
    out = call(
        plugin.action("create_contact"),
        {"body": {"properties": {"email": "ada@example.com"}}},
        config={"base_url": hubspot.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["id"] == "51"
    with pytest.raises(NonRetryableError, match=r"conflicts.*Existing ID: 51"):
        call(
            plugin.action("create_contact"),
            {"body": {"properties": {"email": "taken@example.com"}}},
            config={"base_url": hubspot.url},
            secrets={"access_token": TOKEN},
        )


def test_list_contacts_follows_paging_next_after(hubspot: StandIn) -> None:
    out = call(
        plugin.action("list_contacts"),
        {},
        config={"base_url": hubspot.url, "max_pages": 3},
        secrets={"access_token": TOKEN},
    )
    assert [c["id"] for c in out["data"]] == ["1", "2"]
