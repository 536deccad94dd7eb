"""Mastodon timelines as an OSINT stream: REST catch-up from the cursor, then the streaming API.

Each poll first reads, over REST, every status newer than the cursor (``min_id`` paging, so a
stream resumed after a restart misses nothing), then, with ``listen_seconds`` > 0, keeps the
streaming API's server-sent events open that long and adds the statuses pushed meanwhile.
The cursor is the newest status id. ``since`` (backfill) walks the timeline back with
``max_id`` on the first poll until statuses are older than that moment.

API: docs.joinmastodon.org, methods/timelines (``/api/v1/timelines/tag/:hashtag``,
``/public``, ``/api/v1/accounts/:id/statuses``) and methods/streaming (``/api/v1/streaming/
hashtag?tag=``, ``/public``, ``event: update`` with a status as ``data``).
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, PollRequest, PollResult, Trigger, hookimpl
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["Timeline", "synthral_triggers"]

_TAGS = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)
_MARKUP = re.compile(r"<[^>]+>")
MAX_PAGES = 20


class Signal(BaseModel):
    """A status as a signal."""

    id: str
    source: str = "mastodon"
    source_id: str
    url: str | None = None
    author: str | None = None
    text: str
    published_at: str | None = None
    language: str | None = None
    instance: str = ""
    reblogs: int = 0
    favourites: int = 0
    tags: list[str] = Field(default_factory=list)


class TimelineConfig(BaseModel):
    """Which timeline to follow, on which server."""

    model_config = ConfigDict(extra="forbid")

    instance: str = Field(pattern=r"^https?://", description="The server, e.g. https://mastodon.social.")
    timeline: Literal["hashtag", "public", "account"] = "hashtag"
    hashtag: str | None = Field(default=None, pattern=r"^[\w]{1,100}$", description="Without '#', for 'hashtag'.")
    account_id: str | None = Field(default=None, pattern=r"^\d{1,30}$", description="For 'account'.")
    local: bool = Field(default=False, description="Only the server's own statuses (hashtag and public).")
    credential: str | None = Field(default=None, description="The stream secret holding an access token, if any.")
    listen_seconds: float = Field(
        default=0.0, ge=0.0, le=55.0, description="Keep the streaming API open this long per poll (0: REST only)."
    )
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}", description="Backfill from this moment.")


def _text(status: dict[str, Any]) -> str:
    content = _MARKUP.sub("", _TAGS.sub("\n", str(status.get("content") or "")))
    warning = str(status.get("spoiler_text") or "")
    return html.unescape(f"{warning}\n{content}" if warning else content).strip()


def _signal(status: dict[str, Any], instance: str) -> Signal:
    account = status.get("account") or {}
    return Signal(
        id=str(status["id"]),
        source_id=str(status.get("uri") or status["id"]),
        url=status.get("url") or status.get("uri"),
        author=account.get("acct"),
        text=_text(status),
        published_at=status.get("created_at"),
        language=status.get("language"),
        instance=instance,
        reblogs=int(status.get("reblogs_count") or 0),
        favourites=int(status.get("favourites_count") or 0),
        tags=[str(t.get("name")) for t in status.get("tags") or [] if isinstance(t, dict)],
    )


def _id(value: Any) -> int:
    return int(str(value))


class _Client:
    def __init__(self, config: TimelineConfig, token: str | None, timeout: float, context: Context) -> None:
        headers = {"User-Agent": "SynthralOS-OSINT/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.config = config
        # The SDK's client applies the call's network policy (no private addresses unless allowed).
        self.http = context.http_client_sync(base_url=config.instance.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _path(self) -> tuple[str, dict[str, Any]]:
        config = self.config
        if config.timeline == "hashtag":
            return f"/api/v1/timelines/tag/{config.hashtag}", {"local": str(config.local).lower()}
        if config.timeline == "public":
            return "/api/v1/timelines/public", {"local": str(config.local).lower()}
        return f"/api/v1/accounts/{config.account_id}/statuses", {}

    def _check(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise ConfigurationError(
                f"{self.config.instance} refused the request ({response.status_code}); this timeline needs an access "
                "token: store it as a credential and name it in 'credential' and the stream's secrets"
            )
        if response.status_code == 404:
            raise NonRetryableError(f"{self.config.instance} has no such timeline or account; check the config")
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"{self.config.instance} answered {response.status_code}; retried at the next poll")
        if response.status_code >= 400:
            raise NonRetryableError(f"{self.config.instance} answered {response.status_code}: {response.text[:300]}")

    def page(self, **params: Any) -> list[dict[str, Any]]:
        path, base = self._path()
        try:
            response = self.http.get(path, params={**base, "limit": 40, **params})
        except httpx.HTTPError as exc:
            raise RetryableError(f"could not reach {self.config.instance}: {type(exc).__name__}") from None
        self._check(response)
        body = response.json()
        return [s for s in body if isinstance(s, dict) and "id" in s] if isinstance(body, list) else []

    def newer(self, after: int) -> list[dict[str, Any]]:
        """Every status newer than ``after``, oldest first (min_id pages towards the present)."""
        found: list[dict[str, Any]] = []
        cursor = after
        for _ in range(MAX_PAGES):
            batch = self.page(min_id=str(cursor))
            if not batch:
                break
            batch.sort(key=lambda s: _id(s["id"]))
            found.extend(batch)
            cursor = _id(batch[-1]["id"])
        return found

    def history(self, since: datetime) -> list[dict[str, Any]]:
        """Statuses published since ``since``, oldest first (max_id pages into the past)."""
        found: list[dict[str, Any]] = []
        max_id: str | None = None
        for _ in range(MAX_PAGES):
            batch = self.page(**({"max_id": max_id} if max_id else {}))
            if not batch:
                break
            batch.sort(key=lambda s: _id(s["id"]), reverse=True)
            kept = [s for s in batch if _published(s) >= since]
            found.extend(kept)
            if len(kept) < len(batch):
                break
            max_id = str(batch[-1]["id"])
        return sorted(found, key=lambda s: _id(s["id"]))

    def listen(self, seconds: float) -> Iterator[dict[str, Any]]:
        """Statuses pushed by the streaming API for ``seconds`` (server-sent events, ``update`` only)."""
        config = self.config
        if config.timeline == "hashtag":
            path, params = "/api/v1/streaming/hashtag" + ("/local" if config.local else ""), {"tag": config.hashtag}
        elif config.timeline == "public":
            path, params = "/api/v1/streaming/public" + ("/local" if config.local else ""), {}
        else:
            return  # Mastodon streams no single account's statuses: REST polling covers it
        deadline = time.monotonic() + seconds
        event = ""
        try:
            with self.http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(seconds + 5, read=seconds)
            ) as reply:
                self._check(reply)
                for line in reply.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "update":
                        status = json.loads(line[5:].strip())
                        if isinstance(status, dict) and "id" in status:
                            yield status
                    elif not line:
                        event = ""
                    if time.monotonic() >= deadline:
                        return
        except httpx.ReadTimeout:
            return  # a quiet stream: the listening time is over
        except httpx.HTTPError as exc:
            raise RetryableError(f"the streaming API of {config.instance} failed: {type(exc).__name__}") from None


def _published(status: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(status.get("created_at") or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Timeline(Trigger[TimelineConfig]):
    """New statuses of a hashtag, the public timeline or an account, each once, oldest first."""

    name = "timeline"
    title = "Mastodon timeline"
    event_model = Signal

    def poll(self, request: PollRequest, config: TimelineConfig, context: Context) -> PollResult:
        """Catch up over REST from the cursor, then listen to the streaming API for ``listen_seconds``."""
        if config.timeline == "hashtag" and not config.hashtag:
            raise ConfigurationError("a hashtag timeline needs 'hashtag' (without '#')")
        if config.timeline == "account" and not config.account_id:
            raise ConfigurationError(
                "an account timeline needs 'account_id' (the numeric id, see /api/v1/accounts/lookup)"
            )
        token = context.secrets.get(config.credential) if config.credential else None
        if config.credential and not token:
            raise ConfigurationError(f"list the credential {config.credential!r} in the stream's secrets")
        client = _Client(config, token, timeout=min(context.time_remaining() or 30.0, 30.0), context=context)
        try:
            state = request.state or {}
            statuses: list[dict[str, Any]]
            if request.state is None:
                latest = client.page(limit=1)
                if config.since:
                    since = datetime.fromisoformat(config.since.replace("Z", "+00:00"))
                    statuses = client.history(since if since.tzinfo else since.replace(tzinfo=UTC))
                else:
                    statuses = []
                cursor = max([_id(s["id"]) for s in latest + statuses], default=0)
            else:
                cursor = _id(state.get("after") or 0)
                statuses = client.newer(cursor)
            if config.listen_seconds and request.state is not None:
                statuses.extend(client.listen(config.listen_seconds))
        finally:
            client.close()
        events: list[dict[str, JsonValue]] = []
        reported: set[int] = set()
        for status in sorted(statuses, key=lambda s: _id(s["id"])):
            number = _id(status["id"])
            if number in reported or (request.state is not None and number <= _id(state.get("after") or 0)):
                continue
            reported.add(number)
            events.append(_signal(status, config.instance).model_dump(mode="json"))
            cursor = max(cursor, number)
        return PollResult(events=events, state={"after": str(cursor)})


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the timeline source."""
    return [Timeline()]
