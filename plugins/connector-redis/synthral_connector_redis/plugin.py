"""The Redis connector: a fixed set of commands (no arbitrary command strings) and a stream trigger.

The credential's ``url`` (``redis://user:password@host:6379/0`` or ``rediss://`` for TLS)
names the server. Actions are typed commands, so a workflow input never becomes a command
name; values are strings as Redis stores them.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import redis
import redis.connection
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


class _PolicyConnection(redis.connection.Connection):
    """A connection whose socket is opened through the call's network policy (``context.tcp_connect``).

    Outside the OS sandbox the policy judges each address the host resolves to; inside it the
    host's egress proxy does. Every connection the client makes, reconnections included, comes
    through here.
    """

    def __init__(self, *, synthral_context: Context, **kwargs: Any) -> None:
        self._synthral_context = synthral_context
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    def _connect(self) -> socket.socket:
        # A refusal is EgressDenied (raised as it is); an unreachable server is ConnectionError,
        # an OSError, which redis-py reports as its ConnectionError.
        sock = self._synthral_context.tcp_connect(self.host, self.port, timeout=self.socket_connect_timeout or 10.0)
        sock.settimeout(self.socket_timeout)
        return sock


class _PolicySSLConnection(redis.connection.SSLConnection, _PolicyConnection):
    """``rediss://``: redis-py's TLS on a socket from :class:`_PolicyConnection`.

    redis-py wraps it with ``server_hostname`` = the URL's host, so the certificate is checked
    against the real name, as without the policy.
    """


def _client(context: Context) -> redis.Redis:
    url = context.secrets.get("url")
    if not url:
        raise ConfigurationError(
            "connector 'redis' was granted no 'url'; connect it first (redis://user:password@host:6379/0)"
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme == "unix":
        raise ConfigurationError(
            "the credential's 'url' is a Unix socket (unix://), which means this machine's socket, and plugins "
            "cannot reach it; name the server by host name or address instead: redis://user:password@host:6379/0"
        )
    if scheme not in ("redis", "rediss"):
        raise ConfigurationError(
            f"the credential's 'url' starts with {scheme or 'nothing'!r}; "
            "write it as redis://user:password@host:6379/0 (rediss:// for TLS)"
        )
    timeout = min(30.0, context.time_remaining() or 10.0)
    options: dict[str, Any] = {"decode_responses": True, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    try:
        # The URL's options win over the defaults above, as in Redis.from_url (unannotated there).
        options.update(redis.connection.parse_url(url))  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise ConfigurationError(f"the credential's 'url' does not parse: {exc}") from None
    if any(options.get(name) for name in ("ssl_validate_ocsp", "ssl_validate_ocsp_stapled")):
        # Both would open connections of their own, around the network policy.
        raise ConfigurationError("the credential's 'url' asks for OCSP checks, which this plugin does not support")
    options["connection_class"] = _PolicySSLConnection if scheme == "rediss" else _PolicyConnection
    options["synthral_context"] = context  # after the URL's options: a query string cannot replace it
    return redis.Redis.from_pool(redis.ConnectionPool(**options))


def _run(context: Context, work: Any) -> Any:
    client = _client(context)
    try:
        return work(client)
    except redis.AuthenticationError as exc:
        raise NonRetryableError(f"Redis refused the credential: {exc}") from None
    except redis.ResponseError as exc:
        raise NonRetryableError(f"Redis refused the command: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError):  # not better on a retry
            raise NonRetryableError(
                f"Redis's TLS certificate was not accepted: {exc.__cause__.verify_message or exc.__cause__}"
            ) from None
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
