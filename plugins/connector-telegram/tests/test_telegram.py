"""Telegram's Bot API actions and trigger against a local stand-in of its documented API.

Reference: core.telegram.org/bots/api.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_telegram.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-telegram"


TOKEN = "123456:ABC-DEF"


@pytest.fixture
def telegram() -> Iterator[StandIn]:
    api = StandIn()

    @api.route("POST", "/bot{token}/sendMessage")
    def send(request: Recorded) -> Reply:
        if request.params["token"] != TOKEN:
            return Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        body = request.json
        assert isinstance(body, dict)
        if body["chat_id"] == 0:
            return Reply(200, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        return Reply(
            200, {"ok": True, "result": {"message_id": 5, "chat": {"id": body["chat_id"]}, "text": body["text"]}}
        )

    @api.route("POST", "/bot{token}/getUpdates")
    def updates(request: Recorded) -> Reply:
        body = request.json or {}
        assert isinstance(body, dict)
        offset = int(body.get("offset") or 0)
        found = [{"update_id": n, "message": {"text": f"u{n}"}} for n in (100, 101) if n >= offset]
        return Reply(200, {"ok": True, "result": found})

    with api:
        yield api


def _config(api: StandIn) -> dict[str, str]:
    return {"base_url": api.url + "/bot{api_key}"}


def test_send_message_puts_the_token_in_the_url_only(telegram: StandIn) -> None:
    out = call(
        plugin.action("send_message"),
        {"body": {"chat_id": 7, "text": "hi"}},
        config=_config(telegram),
        secrets={"api_key": TOKEN},
    )
    assert out["data"] == {"message_id": 5, "chat": {"id": 7}, "text": "hi"}
    sent = telegram.last()
    assert sent.path == f"/bot{TOKEN}/sendMessage" and "authorization" not in sent.headers and not sent.query


def test_ok_false_carries_telegrams_description(telegram: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="chat not found"):
        call(
            plugin.action("send_message"),
            {"body": {"chat_id": 0, "text": "x"}},
            config=_config(telegram),
            secrets={"api_key": TOKEN},
        )


def test_new_update_trigger_moves_the_offset(telegram: StandIn) -> None:
    trigger = plugin.trigger("new_update")
    config = {**_config(telegram), "backfill": True}
    first = call(trigger, {"state": None}, config=config, secrets={"api_key": TOKEN})
    second = call(trigger, {"state": first["state"]}, config=config, secrets={"api_key": TOKEN})
    assert [e["update_id"] for e in first["events"]] == [100, 101]
    assert second["events"] == []
    assert telegram.last().json == {"offset": 101}
