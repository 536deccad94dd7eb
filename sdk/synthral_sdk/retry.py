"""When to try an HTTP call again: status codes worth retrying and the server's ``Retry-After``.

Plugins that call rate-limited APIs (LLM providers above all) share this arithmetic; each
keeps its own HTTP client.

.. versionadded:: 1.2
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Final

__all__ = ["RETRYABLE_STATUSES", "parse_retry_after", "retry_delay"]

RETRYABLE_STATUSES: Final = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
"""Answers a retry may fix: timeouts, rate limits, overload and server errors."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` (or ``retry-after-ms``-style seconds) header asks to wait, or None.

    Accepts delta-seconds (``"3"``, ``"0.5"``) and HTTP dates; a past date is 0.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_delay(attempt: int, retry_after: float | None, *, base: float = 0.5, cap: float = 60.0) -> float:
    """Seconds to wait before attempt ``attempt + 1``: the server's wish, else jittered exponential back-off.

    Args:
        attempt: Attempts made so far (1 after the first).
        retry_after: What the server asked for (``parse_retry_after``), if anything.
        base: The first back-off.
        cap: Never wait longer than this.
    """
    if retry_after is not None:
        return min(cap, retry_after)
    backoff = base * 2 ** (attempt - 1)
    return float(min(cap, backoff * (0.5 + random.random() / 2)))  # noqa: S311 -- jitter, not cryptography
