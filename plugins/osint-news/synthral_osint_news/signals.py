"""The signal shape the host's OSINT streams store, and a cursor that remembers what was reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, JsonValue

__all__ = ["Seen", "Signal", "parse_since"]

SEEN_LIMIT = 5000


class Signal(BaseModel):
    """One news item as a signal (the host's OSINTSignal fields; the rest is metadata)."""

    id: str = Field(description="The item's id at its source (guid, article id).")
    source: str = "news"
    source_id: str
    url: str | None = None
    author: str | None = None
    text: str = Field(description="Title and summary.")
    published_at: str | None = Field(default=None, description="ISO 8601 UTC.")
    language: str | None = None
    title: str = ""
    outlet: str = Field(default="", description="The feed's title or the article's site.")


class Seen:
    """Ids already reported, bounded, kept in the cursor."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.ids: list[str] = [str(s) for s in (state or {}).get("seen") or []]
        self.known = set(self.ids)

    def add(self, key: str) -> bool:
        """Remember ``key``; whether it was new."""
        if key in self.known:
            return False
        self.known.add(key)
        self.ids.append(key)
        return True

    def dump(self) -> list[JsonValue]:
        """The newest ids, for the next cursor."""
        return list(self.ids[-SEEN_LIMIT:])


def parse_since(value: str | None) -> datetime | None:
    """The backfill start as an aware UTC time (None when not given)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
