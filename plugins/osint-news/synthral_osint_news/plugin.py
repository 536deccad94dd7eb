"""News sources as OSINT streams: an RSS/Atom feed, and a NewsCatcher keyword search.

Both are polling triggers: the host's OSINT stream (or a workflow's poll trigger) hands
back the cursor each returned. Each reports every item once, oldest first, in the signal
shape (``source``, ``source_id``, ``url``, ``author``, ``text``, ``published_at``,
``language``). ``since`` asks for history: on the first poll the items published since
then are reported (a backfill); without it, the first poll only notes what is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_osint_news.feeds import fetch_feed
from synthral_osint_news.newscatcher import DEFAULT_BASE, search
from synthral_osint_news.signals import Seen, Signal, parse_since
from synthral_sdk import Context, PollRequest, PollResult, Trigger, hookimpl
from synthral_sdk.errors import ConfigurationError

__all__ = ["Feed", "NewsCatcher", "synthral_triggers"]

_SINCE = Field(
    default=None,
    pattern=r"^\d{4}-\d{2}-\d{2}",
    description="Backfill: on the first poll, report the items published since this ISO 8601 moment.",
)


class FeedConfig(BaseModel):
    """Which feed to follow."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="The RSS or Atom feed's URL.")
    since: str | None = _SINCE


def _after(signal: Signal, since: datetime | None) -> bool:
    if since is None:
        return True
    if signal.published_at is None:
        return False
    return datetime.fromisoformat(signal.published_at) >= since


class Feed(Trigger[FeedConfig]):
    """New items of an RSS or Atom feed, each once, oldest first; conditional GET keeps polls cheap."""

    name = "feed"
    title = "News feed (RSS/Atom)"
    event_model = Signal

    def poll(self, request: PollRequest, config: FeedConfig, context: Context) -> PollResult:
        """Fetch the feed; report the entries not reported before."""
        state: dict[str, Any] = dict(request.state or {})
        items, etag, modified = fetch_feed(
            config.url,
            timeout=context.time_remaining() or 30.0,
            etag=state.get("etag"),
            modified=state.get("modified"),
            client=context.http_client_sync,  # the call's network policy applies
        )
        seen = Seen(state)
        since = parse_since(config.since)
        first = request.state is None
        events: list[dict[str, JsonValue]] = []
        ordered = sorted(items, key=lambda s: s.published_at or "")  # oldest first; undated ones lead
        for item in ordered:
            if not seen.add(item.id):
                continue
            if first and (since is None or not _after(item, since)):
                continue  # what was there before the stream started, or older than the backfill
            events.append(item.model_dump(mode="json"))
        return PollResult(events=events, state={"seen": seen.dump(), "etag": etag, "modified": modified})


class NewsCatcherConfig(BaseModel):
    """A NewsCatcher search."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=500, description="The search, in NewsCatcher's query syntax.")
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2}(,[a-z]{2})*$", description="Languages, e.g. 'en,fr'.")
    credential: str = Field(default="newscatcher", description="The stream secret holding the API key.")
    base_url: str = Field(default=DEFAULT_BASE, pattern=r"^https?://", description="The API's base URL.")
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=5, ge=1, le=50, description="Pages read per poll; the rest waits for the next.")
    since: str | None = _SINCE


class NewsCatcher(Trigger[NewsCatcherConfig]):
    """Articles matching a NewsCatcher search, published since the last poll, each once, oldest first."""

    name = "newscatcher"
    title = "NewsCatcher search"
    event_model = Signal

    def poll(self, request: PollRequest, config: NewsCatcherConfig, context: Context) -> PollResult:
        """Search from the cursor's time (or ``since``/now on the first poll), page by page."""
        key = context.secrets.get(config.credential)
        if not key:
            raise ConfigurationError(
                f"no NewsCatcher API key: store it as the credential {config.credential!r} and list it in the "
                "stream's secrets"
            )
        state: dict[str, Any] = dict(request.state or {})
        now = datetime.now(UTC).replace(microsecond=0)
        start = state.get("from") or config.since or now.isoformat()
        if request.state is None and config.since is None:
            return PollResult(events=[], state={"from": now.isoformat(), "seen": []})
        seen = Seen(state)
        found: list[Signal] = []
        page = 1
        pages = 1
        while page <= min(pages, config.max_pages):
            params: dict[str, str | int] = {
                "q": config.q,
                "from": str(start).replace("T", " ")[:19],
                "sort_by": "date",
                "page_size": config.page_size,
                "page": page,
            }
            if config.lang:
                params["lang"] = config.lang
            items, pages = search(
                config.base_url, key, params, timeout=context.time_remaining() or 30.0, client=context.http_client_sync
            )
            found.extend(items)
            page += 1
        fresh = [item for item in sorted(found, key=lambda s: s.published_at or "") if seen.add(item.id)]
        latest = max((s.published_at for s in fresh if s.published_at), default=start)
        return PollResult(
            events=[item.model_dump(mode="json") for item in fresh], state={"from": latest, "seen": seen.dump()}
        )


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the feed and NewsCatcher sources."""
    return [Feed(), NewsCatcher()]
