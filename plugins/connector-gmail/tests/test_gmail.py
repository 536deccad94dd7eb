"""Gmail's actions and trigger against a local stand-in of its documented API.

Reference: developers.google.com/gmail/api/reference/rest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_gmail.plugin import plugin

from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-gmail"


TOKEN = "ya29.gmail"
IDS = ["m1", "m2"]


@pytest.fixture
def gmail() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"error": {"code": 401, "status": "UNAUTHENTICATED"}})

    @api.route("GET", "/gmail/v1/users/{user}/messages")
    def messages(request: Recorded) -> Reply:
        return Reply(
            200, {"messages": [{"id": i, "threadId": "t"} for i in reversed(IDS)], "resultSizeEstimate": len(IDS)}
        )

    @api.route("POST", "/gmail/v1/users/{user}/messages/send")
    def send(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"id": "sent1", "labelIds": ["SENT"]})

    with api:
        yield api


def test_send_message_posts_the_raw_message(gmail: StandIn) -> None:
    out = call(
        plugin.action("send_message"),
        {"path": {"userId": "me"}, "body": {"raw": "RnJvbTogYQ"}},
        config={"base_url": gmail.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["labelIds"] == ["SENT"] and gmail.last().path == "/gmail/v1/users/me/messages/send"


def test_new_message_trigger_emits_new_ids_once(gmail: StandIn) -> None:
    trigger = plugin.trigger("new_message")
    config = {"base_url": gmail.url, "input": {"path": {"userId": "me"}, "query": {"q": "is:unread"}}}
    first = call(trigger, {"state": None}, config=config, secrets={"access_token": TOKEN})
    IDS.append("m3")
    second = call(trigger, {"state": first["state"]}, config=config, secrets={"access_token": TOKEN})
    assert first["events"] == [] and [e["id"] for e in second["events"]] == ["m3"]
    assert gmail.last().arg("q") == "is:unread"
