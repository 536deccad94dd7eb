"""Signals: the one shape every OSINT source's events take, their fingerprints, and the noise filter.

A source trigger reports events in its service's words; :func:`normalise` maps them onto
:class:`Signal` (``source``, ``source_id``, ``url``, ``author``, ``text``,
``published_at``, ``language``; everything else is kept in ``raw``). Two fingerprints tell
duplicates apart: ``content_hash`` (sha256 of the normalised text: the same story re-posted)
and a 64-bit ``simhash`` (the same story lightly edited: a few bits apart). The simhash is
kept as nine bands too: two fingerprints at most 8 bits apart share a band, so the
database finds the candidates through an index and only those are compared.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "NEAR_DISTANCE",
    "NoiseFilter",
    "Signal",
    "bands",
    "content_hash",
    "fingerprint",
    "hamming",
    "normalise",
    "normalise_text",
]

NEAR_DISTANCE: Final = 8
"""Simhashes at most this many bits apart are near duplicates (9 bands: one is always shared).

Measured on news-sized texts: a re-post with a prefix, a credit or a changed word is 3-8 bits
away; different stories, even on one topic, 25 or more."""
_LAST_BAND: Final = 8
SHINGLE: Final = 4
"""Characters per simhash feature: short posts need character shingles, words vary too much."""
MAX_TEXT: Final = 20_000
"""Characters of a signal's text kept; the rest is cut."""

_SPACE = re.compile(r"\s+")
_LINK = re.compile(r"https?://\S+")
_TOKEN = re.compile(r"\S+")
_FINGERPRINT_WORD = re.compile(r"\w+", re.UNICODE)
_MARKUP = re.compile(r"<[^>]{0,500}>")


@dataclass
class Signal:
    """One normalised signal, ready to store."""

    source: str
    source_id: str
    text: str
    published_at: datetime
    url: str | None = None
    author: str | None = None
    language: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    simhash: int = 0


class NoiseFilter(BaseModel):
    """What counts as noise on a stream; noise is dropped at ingest and counted."""

    model_config = ConfigDict(extra="forbid")

    min_chars: int = Field(default=20, ge=0, le=10_000, description="Texts shorter than this (links aside) are noise.")
    max_link_ratio: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Texts whose words are mostly links, @mentions and #hashtags (above this share) are noise.",
    )
    block: list[str] = Field(
        default_factory=list, max_length=200, description="Words or phrases that make a signal noise (spam, ads)."
    )
    languages: list[str] = Field(
        default_factory=list, max_length=50, description="Keep only these languages (empty: all; unknown is kept)."
    )

    def reason(self, signal: Signal) -> str | None:
        """Why ``signal`` is noise, or None when it is kept."""
        prose = _LINK.sub(" ", signal.text)
        if len(prose.strip()) < self.min_chars:
            return "too_short"
        tokens = _TOKEN.findall(signal.text)
        if tokens:
            marks = sum(1 for t in tokens if t.startswith(("http://", "https://", "@", "#")))
            if marks / len(tokens) > self.max_link_ratio:
                return "mostly_links"
        if self.block and matches_any(signal.text, self.block):
            return "blocked_word"
        if self.languages and signal.language and signal.language.lower() not in {x.lower() for x in self.languages}:
            return "language"
        return None


def phrase_pattern(phrases: list[str]) -> re.Pattern[str]:
    """A case-insensitive pattern matching any of ``phrases`` as whole words."""
    escaped = "|".join(re.escape(p.strip()) for p in phrases if p.strip())
    return re.compile(rf"(?<!\w)(?:{escaped})(?!\w)", re.IGNORECASE)


def matches_any(text: str, phrases: list[str]) -> bool:
    """Whether ``text`` contains any of ``phrases`` as whole words (any case)."""
    return bool(phrases) and phrase_pattern(phrases).search(text) is not None


def normalise_text(text: str) -> str:
    """Unicode NFC, markup tags removed, whitespace collapsed, cut at :data:`MAX_TEXT`."""
    text = unicodedata.normalize("NFC", _MARKUP.sub(" ", text))
    return _SPACE.sub(" ", text).strip()[:MAX_TEXT]


def content_hash(text: str) -> str:
    """sha256 of the text with case, punctuation and spacing removed: an exact duplicate's key."""
    words = _FINGERPRINT_WORD.findall(_LINK.sub(" ", text).casefold())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


def fingerprint(text: str) -> int:
    """The text's 64-bit simhash over 4-character shingles of its words (links left out, any case)."""
    flat = " ".join(_FINGERPRINT_WORD.findall(_LINK.sub(" ", text).casefold()))
    features = [flat[i : i + SHINGLE] for i in range(max(len(flat) - SHINGLE + 1, 1))]
    return int(_simhash()(features).value)


@functools.cache
def _simhash() -> Any:
    """The simhash class, imported on first use (it brings numpy: not worth it at every start)."""
    with warnings.catch_warnings():
        # simhash 2.1's docstrings hold "\w" escapes that Python warns about when it compiles them.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        from simhash import Simhash  # type: ignore[import-untyped]  # noqa: PLC0415

    return Simhash


def bands(value: int) -> list[int]:
    """The simhash's nine bands, low bits first: eight of 7 bits and the last of 8."""
    return [(value >> (7 * n)) & (0xFF if n == _LAST_BAND else 0x7F) for n in range(_LAST_BAND + 1)]


def hamming(a: int, b: int) -> int:
    """Bits that differ between two fingerprints."""
    return (a ^ b).bit_count()


def _text_of(event: Mapping[str, Any]) -> str:
    for key in ("text", "content", "body"):
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value
    parts = [event.get(key) for key in ("title", "summary", "description", "selftext")]
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip())


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return None


def _short(value: Any, limit: int = 500) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:limit]
    return None


_KNOWN: Final = frozenset(
    {
        "id",
        "source",
        "source_id",
        "url",
        "link",
        "author",
        "text",
        "content",
        "body",
        "published_at",
        "published",
        "created_at",
        "language",
        "lang",
    }
)


def normalise(event: Mapping[str, Any], *, default_source: str, now: datetime) -> Signal | None:
    """The signal an event stands for; None when it has no id or no text (it cannot be kept).

    Args:
        event: What the source trigger reported.
        default_source: The source when the event names none (the plugin's name).
        now: The ingest time, the publication time of an event without one.
    """
    source_id = _short(event.get("source_id")) or _short(event.get("id"))
    text = normalise_text(_text_of(event))
    if source_id is None or not text:
        return None
    published = (
        _moment(event.get("published_at")) or _moment(event.get("published")) or _moment(event.get("created_at"))
    )
    language = _short(event.get("language")) or _short(event.get("lang"), 16)
    signal = Signal(
        source=(_short(event.get("source"), 100) or default_source).lower(),
        source_id=source_id,
        text=text,
        published_at=published or now,
        url=_short(event.get("url"), 4000) or _short(event.get("link"), 4000),
        author=_short(event.get("author")),
        language=language.lower()[:16] if language else None,
        raw={k: v for k, v in event.items() if k not in _KNOWN},
    )
    signal.content_hash = content_hash(text)
    signal.simhash = fingerprint(text)
    return signal
