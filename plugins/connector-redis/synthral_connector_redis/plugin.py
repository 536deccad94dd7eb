"""The Redis connector: a fixed set of commands (no arbitrary command strings) and a stream trigger.

The credential's ``url`` (``redis://user:password@host:6379/0`` or ``rediss://`` for TLS)
names the server. Actions are typed commands, so a workflow input never becomes a command
name; values are strings as Redis stores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import (
    AuthSpec,
    ConnectionCheck,
    ConnectionStatus,
    Connector,
    Context,
    CredentialField,
    NoConfig,
    Node,
    PollRequest,
    PollResult,
    Trigger,
    hookimpl,
)
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["Command", "Redis", "StreamEntry", "synthral_connectors", "synthral_triggers"]

SECRETS = ("url",)


def _client(context: Context) -> redis.Redis:
    url = context.secrets.get("url")
    if not url:
        raise ConfigurationError(
            "connector 'redis' was granted no 'url'; connect it first (redis://user:password@host:6379/0)"
        )
    timeout = min(30.0, context.time_remaining() or 10.0)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout)


def _run(context: Context, work: Any) -> Any:
    client = _client(context)
    try:
        return work(client)
    except redis.AuthenticationError as exc:
        raise NonRetryableError(f"Redis refused the credential: {exc}") from None
    except redis.ResponseError as exc:
        raise NonRetryableError(f"Redis refused the command: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RetryableError(f"could not reach Redis: {exc}") from None
    finally:
        client.close()


class CommandInput(BaseModel):
    """One command of a fixed set."""

    model_config = ConfigDict(extra="forbid")

    command: Literal[
        "get",
        "set",
        "delete",
        "incr",
        "expire",
        "hget",
        "hset",
        "hgetall",
        "lpush",
        "rpush",
        "lrange",
        "publish",
        "xadd",
    ]
    key: str = Field(min_length=1, max_length=1024, description="The key (for publish: the channel).")
    value: str | None = Field(default=None, description="set, lpush, rpush, publish: the value.")
    field: str | None = Field(default=None, description="hget, hset: the hash field.")
    fields: dict[str, str] | None = Field(default=None, description="hset (several), xadd: field values.")
    ttl_seconds: int | None = Field(default=None, ge=1, description="set, expire: time to live.")
    start: int = Field(default=0, description="lrange: first index.")
    stop: int = Field(default=-1, description="lrange: last index (-1: the end).")


class CommandOutput(BaseModel):
    """Redis's answer."""

    result: JsonValue


class Command(Node[CommandInput, CommandOutput, NoConfig]):
    """Run one Redis command."""

    name = "command"
    title = "Redis command"
    secrets = SECRETS

    def run(self, inputs: CommandInput, config: NoConfig, context: Context) -> CommandOutput:
        """Check the arguments the command needs, then run it."""
        needs = {
            "set": "value",
            "lpush": "value",
            "rpush": "value",
            "publish": "value",
            "hget": "field",
            "expire": "ttl_seconds",
            "xadd": "fields",
        }
        wanted = needs.get(inputs.command)
        if wanted and getattr(inputs, wanted) is None:
            raise ConfigurationError(f"'{inputs.command}' needs '{wanted}'; add it to the input")
        if inputs.command == "hset" and inputs.fields is None and (inputs.field is None or inputs.value is None):
            raise ConfigurationError("'hset' needs 'fields', or 'field' and 'value'")
        key, value = inputs.key, inputs.value

        def work(r: redis.Redis) -> Any:
            match inputs.command:
                case "get":
                    return r.get(key)
                case "set":
                    return r.set(key, value or "", ex=inputs.ttl_seconds)
                case "delete":
                    return r.delete(key)
                case "incr":
                    return r.incr(key)
                case "expire":
                    return r.expire(key, inputs.ttl_seconds or 0)
                case "hget":
                    return r.hget(key, inputs.field or "")
                case "hset":
                    mapping = inputs.fields or {inputs.field or "": value or ""}
                    return r.hset(key, mapping=mapping)  # type: ignore[arg-type]
                case "hgetall":
                    return r.hgetall(key)
                case "lpush":
                    return r.lpush(key, value or "")
                case "rpush":
                    return r.rpush(key, value or "")
                case "lrange":
                    return r.lrange(key, inputs.start, inputs.stop)
                case "publish":
                    return r.publish(key, value or "")
                case "xadd":
                    return r.xadd(key, inputs.fields or {})  # type: ignore[arg-type]

        return CommandOutput(result=_run(context, work))


class Redis(Connector[NoConfig]):
    """Redis (and servers speaking its protocol: Valkey, KeyDB, Dragonfly)."""

    name = "redis"
    title = "Redis"
    auth = AuthSpec(
        type="api_key",
        fields=[CredentialField(name="url", title="Connection URL", description="redis://user:password@host:6379/0")],
    )
    actions = (Command,)
    secrets = SECRETS

    def test_connection(self, request: ConnectionCheck, config: NoConfig, context: Context) -> ConnectionStatus:
        """PING the server."""
        try:
            _run(context, lambda r: r.ping())
        except (ConfigurationError, NonRetryableError, RetryableError) as exc:
            return ConnectionStatus(ok=False, message=exc.message)
        return ConnectionStatus(ok=True, message="PONG")


class StreamConfig(BaseModel):
    """Which stream to follow."""

    model_config = ConfigDict(extra="forbid")

    stream: str = Field(min_length=1, max_length=1024)
    batch: int = Field(default=100, ge=1, le=10_000)
    backfill: bool = Field(default=False, description="Start from the stream's first entry instead of its end.")


class StreamEntry(Trigger[StreamConfig]):
    """Entries appended to a stream since the last one emitted (XRANGE after the cursor id)."""

    name = "stream_entry"
    secrets = SECRETS

    def poll(self, request: PollRequest, config: StreamConfig, context: Context) -> PollResult:
        """Read the entries after the cursor."""
        cursor = (request.state or {}).get("cursor")
        if cursor is None and not config.backfill:
            last = _run(context, lambda r: r.xrevrange(config.stream, count=1))
            return PollResult(events=[], state={"cursor": last[0][0] if last else "0-0"})
        start = "-" if cursor is None else f"({cursor}"
        entries = _run(context, lambda r: r.xrange(config.stream, min=start, count=config.batch))
        events: list[dict[str, JsonValue]] = [{"id": entry_id, "fields": dict(fields)} for entry_id, fields in entries]
        return PollResult(events=events, state={"cursor": entries[-1][0] if entries else cursor})


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the Redis connector (its action comes with it)."""
    return [Redis()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the stream trigger."""
    return [StreamEntry()]
