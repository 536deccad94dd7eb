"""Slack's Web API actions and trigger against a local stand-in of its documented API (api.slack.com/web)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_slack.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-slack"


TOKEN = "xoxb-test"


@pytest.fixture
def slack() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"ok": False, "error": "invalid_auth"})

    @api.route("POST", "/chat.postMessage")
    def post(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        if body["channel"] == "C404":
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(200, {"ok": True, "channel": body["channel"], "ts": "1700000000.000100"})

    @api.route("GET", "/conversations.list")
    def channels(request: Recorded) -> Reply:
        if request.arg("cursor") == "dGVhbTpD":
            return Reply(200, {"ok": True, "channels": [{"id": "C2"}], "response_metadata": {"next_cursor": ""}})
        return Reply(200, {"ok": True, "channels": [{"id": "C1"}], "response_metadata": {"next_cursor": "dGVhbTpD"}})

    @api.route("GET", "/conversations.history")
    def history(request: Recorded) -> Reply:
        oldest = float(request.arg("oldest") or 0)
        messages = [{"ts": ts, "text": f"m{ts}"} for ts in ("1.000003", "1.000002", "1.000001") if float(ts) > oldest]
        return Reply(200, {"ok": True, "messages": messages, "response_metadata": {"next_cursor": ""}})

    with api:
        yield api


def test_post_message_sends_json_with_the_bot_token(slack: StandIn) -> None:
    out = call(
        plugin.action("chat_post_message"),
        {"body": {"channel": "C1", "text": "hi"}},
        config={"base_url": slack.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["ts"] == "1700000000.000100"
    assert slack.last("POST").json == {"channel": "C1", "text": "hi"}


def test_an_ok_false_answer_fails_with_slacks_error_code(slack: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="channel_not_found"):
        call(
            plugin.action("chat_post_message"),
            {"body": {"channel": "C404", "text": "x"}},
            config={"base_url": slack.url},
            secrets={"access_token": TOKEN},
        )


def test_conversations_list_follows_next_cursor(slack: StandIn) -> None:
    out = call(
        plugin.action("conversations_list"),
        {},
        config={"base_url": slack.url, "max_pages": 3},
        secrets={"access_token": TOKEN},
    )
    assert [c["id"] for c in out["data"]] == ["C1", "C2"]


def test_new_message_trigger_emits_each_message_once_oldest_first(slack: StandIn) -> None:
    trigger = plugin.trigger("new_message")
    config = {"base_url": slack.url, "input": {"query": {"channel": "C1"}}, "backfill": True}
    first = call(trigger, {"state": None}, config=config, secrets={"access_token": TOKEN})
    again = call(trigger, {"state": first["state"]}, config=config, secrets={"access_token": TOKEN})
    assert [e["ts"] for e in first["events"]] == ["1.000001", "1.000002", "1.000003"]
    assert again["events"] == []
    assert slack.last().arg("oldest") == "1.000003"
