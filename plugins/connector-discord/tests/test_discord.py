"""Discord's bot actions and trigger against a local stand-in of its documented API (discord.com/developers/docs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_discord.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import ApiKeyAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-discord"


TOKEN = "bot-token"


@pytest.fixture
def discord() -> Iterator[StandIn]:
    api = StandIn(
        auth=ApiKeyAuth(TOKEN, header="Authorization", prefix="Bot "),
        unauthorized={"message": "401: Unauthorized", "code": 0},
    )

    @api.route("POST", "/channels/{channel_id}/messages")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"id": "999", "channel_id": request.params["channel_id"], "content": body["content"]})

    @api.route("GET", "/channels/{channel_id}/messages")
    def messages(request: Recorded) -> Reply:
        after = int(request.arg("after") or 0)
        return Reply(200, [{"id": str(n), "content": f"m{n}"} for n in (12, 11, 10) if n > after])

    @api.route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    def react(request: Recorded) -> Reply:
        return Reply(204)

    with api:
        yield api


def test_create_message_uses_the_bot_prefix(discord: StandIn) -> None:
    out = call(
        plugin.action("create_message"),
        {"path": {"channel_id": "42"}, "body": {"content": "hi"}},
        config={"base_url": discord.url},
        secrets={"api_key": TOKEN},
    )
    assert out["data"] == {"id": "999", "channel_id": "42", "content": "hi"}
    assert discord.last().headers["authorization"] == "Bot bot-token"


def test_reaction_emoji_is_url_encoded_in_the_path(discord: StandIn) -> None:
    out = call(
        plugin.action("create_reaction"),
        {"path": {"channel_id": "1", "message_id": "2", "emoji": "👍"}},
        config={"base_url": discord.url},
        secrets={"api_key": TOKEN},
    )
    assert out["status"] == 204 and out["data"] is None
    assert discord.last().path == "/channels/1/messages/2/reactions/%F0%9F%91%8D/@me"


def test_a_wrong_token_is_refused_with_the_reconnect_hint(discord: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="401"):
        call(
            plugin.action("get_guild_channels"),
            {"path": {"guild_id": "1"}},
            config={"base_url": discord.url},
            secrets={"api_key": "nope"},
        )


def test_new_message_trigger_polls_after_the_highest_id(discord: StandIn) -> None:
    trigger = plugin.trigger("new_message")
    config = {"base_url": discord.url, "input": {"path": {"channel_id": "5"}}}
    first = call(trigger, {"state": None}, config=config, secrets={"api_key": TOKEN})
    assert first["events"] == [] and first["state"]["cursor"] == "12"
    call(trigger, {"state": first["state"]}, config=config, secrets={"api_key": TOKEN})
    assert discord.last().arg("after") == "12"
