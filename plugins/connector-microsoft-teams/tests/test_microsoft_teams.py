"""Microsoft Teams' Graph actions against a local stand-in of its documented API.

Reference: learn.microsoft.com/graph/api/resources/teams-api-overview.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_microsoft_teams.plugin import plugin

from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-microsoft-teams"


TOKEN = "eyJ0.graph"


@pytest.fixture
def graph() -> Iterator[StandIn]:
    api = StandIn(
        auth=BearerAuth(TOKEN),
        unauthorized={"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}},
    )

    @api.route("POST", "/v1.0/teams/{team}/channels/{channel}/messages")
    def send(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(201, {"id": "1616990032035", "body": body["body"]})

    @api.route("GET", "/v1.0/teams/{team}/channels")
    def channels(request: Recorded) -> Reply:
        if request.arg("$skiptoken") == "X1":
            return Reply(200, {"value": [{"id": "c2"}]})
        return Reply(200, {"value": [{"id": "c1"}], "@odata.nextLink": f"{api.url}{request.path}?$skiptoken=X1"})

    with api:
        yield api


def test_send_channel_message_encodes_the_channel_id(graph: StandIn) -> None:
    out = call(
        plugin.action("send_channel_message"),
        {"path": {"team_id": "T", "channel_id": "19:abc@thread.tacv2"}, "body": {"body": {"content": "hi"}}},
        config={"base_url": graph.url},
        secrets={"access_token": TOKEN},
    )
    assert out["status"] == 201 and out["data"]["body"] == {"content": "hi"}
    assert graph.last().path == "/v1.0/teams/T/channels/19%3Aabc%40thread.tacv2/messages"


def test_list_channels_follows_odata_next_link_on_the_same_server(graph: StandIn) -> None:
    out = call(
        plugin.action("list_channels"),
        {"path": {"team_id": "T"}},
        config={"base_url": graph.url, "max_pages": 3},
        secrets={"access_token": TOKEN},
    )
    assert [c["id"] for c in out["data"]] == ["c1", "c2"]
