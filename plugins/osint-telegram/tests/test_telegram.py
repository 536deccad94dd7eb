"""The Telegram source against a local stand-in of the Bot API's getUpdates.

Reference: core.telegram.org/bots/api: ``getUpdates`` (``offset`` confirms updates below it,
``timeout`` long-polls, ``allowed_updates``), ``Update`` (``update_id``, ``channel_post``,
``message``, ``edited_channel_post``) and ``Message`` (``message_id``, ``chat``, ``date``,
``text``/``caption``, ``author_signature``); errors as ``{"ok": false, "error_code", "description"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from synthral_osint_telegram.plugin import ChatPosts

from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn

TOKEN = "123456:ABC-secret"
SECRETS = {"telegram_bot_token": TOKEN}
WIRE = {"id": -1001, "title": "Wire", "username": "wirechannel", "type": "channel"}
GROUP = {"id": -2002, "title": "Watchers", "type": "supergroup"}


class TestConformance(PluginConformance):
    dist = "synthral-osint-telegram"


class Bot:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.confirmed = 0

    def post(self, chat: dict[str, Any], text: str, kind: str = "channel_post", **extra: Any) -> None:
        update_id = 500 + len(self.updates)
        message = {"message_id": len(self.updates) + 1, "chat": chat, "date": 1767600000 + update_id, "text": text}
        self.updates.append({"update_id": update_id, kind: {**message, **extra}})


@pytest.fixture
def telegram() -> Iterator[tuple[StandIn, Bot]]:
    api = StandIn()
    bot = Bot()

    @api.route("GET", "/bot{token}/getUpdates")
    def updates(request: Recorded) -> Reply:
        if request.params["token"] != TOKEN:
            return Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        offset = int(request.arg("offset") or 0)
        bot.confirmed = max(bot.confirmed, offset)
        allowed = json.loads(str(request.arg("allowed_updates")))
        pending = [u for u in bot.updates if u["update_id"] >= offset and any(k in u for k in allowed)]
        return Reply(200, {"ok": True, "result": pending[: int(request.arg("limit") or 100)]})

    with api:
        yield api, bot


def test_posts_arrive_once_and_the_offset_confirms_them(telegram: tuple[StandIn, Bot]) -> None:
    api, bot = telegram
    bot.post(WIRE, "Convoy seen on the northern road", author_signature="Desk")
    bot.post(GROUP, "Photo of the bridge", kind="message", caption=None, **{"from": {"username": "obs1"}})
    config = {"base_url": api.url, "wait_seconds": 0}
    first = call(ChatPosts(), {"state": None}, config=config, secrets=SECRETS)
    assert [e["text"] for e in first["events"]] == ["Convoy seen on the northern road", "Photo of the bridge"]
    event = first["events"][0]
    assert (event["source"], event["source_id"], event["url"], event["author"], event["chat"]) == (
        "telegram",
        "-1001:1",
        "https://t.me/wirechannel/1",
        "Desk",
        "Wire",
    )
    assert first["events"][1]["url"] is None and first["events"][1]["author"] == "obs1"
    assert first["state"] == {"offset": 502}
    bot.post(WIRE, "Update: the convoy turned east")
    second = call(ChatPosts(), {"state": first["state"]}, config=config, secrets=SECRETS)
    assert [e["text"] for e in second["events"]] == ["Update: the convoy turned east"]
    assert bot.confirmed == 502 and api.last().arg("timeout") == "0"


def test_chats_narrow_the_stream_and_edits_are_opt_in(telegram: tuple[StandIn, Bot]) -> None:
    api, bot = telegram
    bot.post(WIRE, "From the wire")
    bot.post(GROUP, "From the group", kind="message")
    bot.post(WIRE, "From the wire, corrected", kind="edited_channel_post", edit_date=1767700000)
    only_wire = {"base_url": api.url, "wait_seconds": 0, "chats": ["@WireChannel"]}
    out = call(ChatPosts(), {"state": None}, config=only_wire, secrets=SECRETS)
    assert [e["text"] for e in out["events"]] == ["From the wire"]
    with_edits = call(ChatPosts(), {"state": None}, config={**only_wire, "edits": True}, secrets=SECRETS)
    assert [e["source_id"] for e in with_edits["events"]] == ["-1001:1", "-1001:3:edit:1767700000"]


def test_a_missing_or_refused_token_says_where_it_goes(telegram: tuple[StandIn, Bot]) -> None:
    api, _ = telegram
    with pytest.raises(ConfigurationError, match="@BotFather"):
        call(ChatPosts(), {"state": None}, config={"base_url": api.url})
    with pytest.raises(ConfigurationError, match="refused the bot token"):
        call(ChatPosts(), {"state": None}, config={"base_url": api.url}, secrets={"telegram_bot_token": "1:bad"})
    conflict = StandIn()
    conflict.route("GET", "/bot{token}/getUpdates")(
        lambda request: Reply(409, {"ok": False, "error_code": 409, "description": "Conflict: webhook is active"})
    )
    with conflict, pytest.raises(NonRetryableError, match="webhook"):
        call(ChatPosts(), {"state": None}, config={"base_url": conflict.url}, secrets=SECRETS)
