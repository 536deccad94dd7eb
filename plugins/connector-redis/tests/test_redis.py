"""The Redis connector against a real local redis-server."""

from __future__ import annotations

import pytest
from synthral_connector_redis.plugin import Command, Redis, StreamEntry

from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError
from synthral_sdk.testing import PluginConformance, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-redis"


def test_strings_hashes_and_lists(url: str) -> None:
    s = {"url": url}
    assert call(Command(), {"command": "set", "key": "greeting", "value": "hi", "ttl_seconds": 60}, secrets=s) == {
        "result": True
    }
    assert call(Command(), {"command": "get", "key": "greeting"}, secrets=s) == {"result": "hi"}
    assert call(
        Command(), {"command": "hset", "key": "user:1", "fields": {"name": "Ada", "role": "admin"}}, secrets=s
    ) == {"result": 2}
    assert call(Command(), {"command": "hgetall", "key": "user:1"}, secrets=s) == {
        "result": {"name": "Ada", "role": "admin"}
    }
    call(Command(), {"command": "rpush", "key": "queue", "value": "a"}, secrets=s)
    call(Command(), {"command": "rpush", "key": "queue", "value": "b"}, secrets=s)
    assert call(Command(), {"command": "lrange", "key": "queue"}, secrets=s) == {"result": ["a", "b"]}


def test_bad_input_and_a_wrong_password_are_named(url: str) -> None:
    with pytest.raises(ConfigurationError, match="'set' needs 'value'"):
        call(Command(), {"command": "set", "key": "k"}, secrets={"url": url})
    with pytest.raises(InputInvalid, match="command"):
        call(Command(), {"command": "flushall", "key": "k"}, secrets={"url": url})
    with pytest.raises(NonRetryableError, match="refused the command: WRONGTYPE"):
        call(Command(), {"command": "get", "key": "user:1"}, secrets={"url": url})
    with pytest.raises(NonRetryableError, match="refused the credential"):
        call(Command(), {"command": "get", "key": "k"}, secrets={"url": url.replace("s3cret", "nope")})
    assert call(Redis(), {}, operation="test_connection", secrets={"url": url}) == {"ok": True, "message": "PONG"}


def test_stream_trigger_starts_at_the_end_and_emits_each_entry_once(url: str) -> None:
    s = {"url": url}
    call(Command(), {"command": "xadd", "key": "orders", "fields": {"n": "0"}}, secrets=s)
    first = call(StreamEntry(), {"state": None}, config={"stream": "orders"}, secrets=s)
    for n in ("1", "2"):
        call(Command(), {"command": "xadd", "key": "orders", "fields": {"n": n}}, secrets=s)
    second = call(StreamEntry(), {"state": first["state"]}, config={"stream": "orders"}, secrets=s)
    third = call(StreamEntry(), {"state": second["state"]}, config={"stream": "orders"}, secrets=s)
    assert first["events"] == []
    assert [e["fields"] for e in second["events"]] == [{"n": "1"}, {"n": "2"}]
    assert third["events"] == [] and third["state"] == second["state"]
