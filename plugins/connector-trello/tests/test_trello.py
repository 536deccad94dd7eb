"""Trello's actions and trigger against a local stand-in of its documented API.

Reference: developer.atlassian.com/cloud/trello/rest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_trello.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-trello"


KEY, TOKEN = "key1", "tok1"
CARDS = [{"id": "c1", "name": "one"}]


@pytest.fixture
def trello() -> Iterator[StandIn]:
    api = StandIn()

    @api.route("POST", "/1/cards")
    def create(request: Recorded) -> Reply:
        if (request.arg("key"), request.arg("token")) != (KEY, TOKEN):
            return Reply(401, raw=b"invalid key", headers={"content-type": "text/plain"})
        return Reply(200, {"id": "c9", "name": request.arg("name"), "idList": request.arg("idList")})

    api.route("GET", "/1/lists/{id}/cards")(lambda request: Reply(200, list(CARDS)))
    with api:
        yield api


def test_create_card_sends_key_and_token_as_query_parameters(trello: StandIn) -> None:
    out = call(
        plugin.action("create_card"),
        {"query": {"idList": "L1", "name": "Ship"}},
        config={"base_url": trello.url},
        secrets={"api_key": KEY, "token": TOKEN},
    )
    assert out["data"] == {"id": "c9", "name": "Ship", "idList": "L1"}
    with pytest.raises(NonRetryableError, match="invalid key"):
        call(
            plugin.action("create_card"),
            {"query": {"idList": "L1"}},
            config={"base_url": trello.url},
            secrets={"api_key": KEY, "token": "bad"},
        )


def test_new_card_trigger_deduplicates_by_id(trello: StandIn) -> None:
    trigger = plugin.trigger("new_card")
    config = {"base_url": trello.url, "input": {"path": {"id": "L1"}}}
    secrets = {"api_key": KEY, "token": TOKEN}
    first = call(trigger, {"state": None}, config=config, secrets=secrets)
    CARDS.append({"id": "c2", "name": "two"})
    second = call(trigger, {"state": first["state"]}, config=config, secrets=secrets)
    third = call(trigger, {"state": second["state"]}, config=config, secrets=secrets)
    assert first["events"] == [] and [e["id"] for e in second["events"]] == ["c2"] and third["events"] == []
