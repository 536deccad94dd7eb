"""The RSS connector: a read action and a new-item trigger that remembers what it emitted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_connector_rss.feeds import FeedItem, fetch_feed
from synthral_sdk import AuthSpec, Connector, Context, NoConfig, Node, PollRequest, PollResult, Trigger, hookimpl

__all__ = ["ReadFeed", "Rss", "synthral_connectors", "synthral_triggers"]

SEEN_LIMIT = 2000


class ReadInput(BaseModel):
    """What to read."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="The feed's URL (RSS or Atom).")
    limit: int = Field(
        default=50, ge=1, le=1000, description="At most this many items, newest first as the feed lists them."
    )


class ReadOutput(BaseModel):
    """The feed's title and items."""

    title: str
    items: list[FeedItem]


class ReadFeed(Node[ReadInput, ReadOutput, NoConfig]):
    """Read an RSS or Atom feed."""

    name = "read_feed"
    title = "Read feed"

    def run(self, inputs: ReadInput, config: NoConfig, context: Context) -> ReadOutput:
        """Fetch and normalise the feed."""
        title, items, _, _ = fetch_feed(inputs.url, timeout=context.time_remaining() or 30.0, context=context)
        return ReadOutput(title=title, items=items[: inputs.limit])


class Rss(Connector[NoConfig]):
    """RSS and Atom feeds (public: no credential)."""

    name = "rss"
    title = "RSS"
    auth = AuthSpec(type="none")
    actions = (ReadFeed,)


class NewItemConfig(BaseModel):
    """Which feed to watch."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="The feed's URL.")
    backfill: bool = Field(default=False, description="Emit the items already in the feed on the first poll.")


class NewItem(Trigger[NewItemConfig]):
    """Items not seen before, oldest first; a re-published story (same title and text) counts once."""

    name = "new_item"
    title = "New feed item"

    def poll(self, request: PollRequest, config: NewItemConfig, context: Context) -> PollResult:
        state: dict[str, Any] = dict(request.state or {})
        _, items, etag, modified = fetch_feed(
            config.url,
            timeout=context.time_remaining() or 30.0,
            etag=state.get("etag"),
            modified=state.get("modified"),
            context=context,
        )
        seen: list[str] = [str(s) for s in state.get("seen") or []]
        known = set(seen)
        fresh = []
        for item in reversed(items):  # feeds list newest first
            keys = {f"id:{item.id}", f"hash:{item.content_hash}"}
            if keys & known:
                continue
            fresh.append(item)
            known |= keys
            seen.extend(sorted(keys))
        events: list[dict[str, JsonValue]] = (
            [] if request.state is None and not config.backfill else [item.model_dump(mode="json") for item in fresh]
        )
        new_state: dict[str, JsonValue] = {"seen": list(seen[-SEEN_LIMIT:]), "etag": etag, "modified": modified}
        return PollResult(events=events, state=new_state)


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the RSS connector (its action comes with it)."""
    return [Rss()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the new-item trigger."""
    return [NewItem()]
