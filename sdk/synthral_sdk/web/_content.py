"""Content checksums for deduplication, noise filters and text diffs for change detection."""

from __future__ import annotations

import difflib
import hashlib
import re
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NoiseFilters", "content_checksum", "filter_noise", "normalize_text", "text_diff"]

_SPACE: Final = re.compile(r"\s+")
_NUMBER: Final = re.compile(r"[-+]?\d[\d,.:/]*")


def normalize_text(text: str) -> str:
    """Whitespace collapsed and trimmed: what two copies of one page have in common."""
    return _SPACE.sub(" ", text).strip()


def content_checksum(text: str) -> str:
    """SHA-256 of the normalized text, hex: equal for pages that differ only in whitespace."""
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()


class NoiseFilters(BaseModel):
    """What change detection ignores."""

    model_config = ConfigDict(extra="forbid")

    ignore_selectors: list[str] = Field(
        default_factory=list, description="CSS selectors removed before comparing (ads, clocks, counters)."
    )
    ignore_numbers: bool = Field(default=False, description="Treat every number as the same (prices aside).")
    ignore_whitespace: bool = Field(default=True, description="Compare with whitespace collapsed.")
    ignore_patterns: list[str] = Field(default_factory=list, description="Regular expressions removed from the text.")


def filter_noise(text: str, filters: NoiseFilters) -> str:
    """``text`` with the filters' noise taken out, line by line (selectors are the extractor's job)."""
    lines = text.splitlines()
    patterns = [re.compile(pattern) for pattern in filters.ignore_patterns]
    out: list[str] = []
    for raw in lines:
        line = raw
        for pattern in patterns:
            line = pattern.sub("", line)
        if filters.ignore_numbers:
            line = _NUMBER.sub("#", line)
        if filters.ignore_whitespace:
            line = normalize_text(line)
            if not line:
                continue
        out.append(line)
    return "\n".join(out)


def text_diff(old: str, new: str, *, context: int = 2, limit: int = 20_000) -> str:
    """A unified diff of two texts (``-`` removed, ``+`` added), cut at ``limit`` characters."""
    diff = "\n".join(
        difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", n=context, lineterm="")
    )
    return diff if len(diff) <= limit else diff[:limit] + "\n… (diff cut)"
