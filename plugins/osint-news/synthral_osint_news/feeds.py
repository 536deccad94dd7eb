"""RSS and Atom with feedparser: fetch with conditional GET, normalise entries into signals."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from synthral_osint_news.signals import Signal
from synthral_sdk.errors import NonRetryableError, RetryableError

__all__ = ["fetch_feed"]

MAX_BYTES = 10 * 1024 * 1024


def _published(entry: Any) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()


def _signal(entry: Any, outlet: str, language: str | None) -> Signal:
    title = str(entry.get("title") or "").strip()
    summary = str(entry.get("summary") or "").strip()
    link = str(entry.get("link") or "") or None
    ident = str(entry.get("id") or link or hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest())
    return Signal(
        id=ident,
        source_id=ident,
        url=link,
        author=str(entry.get("author") or "") or None,
        text=f"{title}\n{summary}".strip(),
        published_at=_published(entry),
        language=language,
        title=title,
        outlet=outlet,
    )


def fetch_feed(
    url: str,
    timeout: float,
    etag: str | None = None,
    modified: str | None = None,
    *,
    client: Callable[..., httpx.Client] = httpx.Client,
) -> tuple[list[Signal], str | None, str | None]:
    """The feed's items (as the feed lists them) and the validators for the next fetch; none on a 304.

    Raises:
        RetryableError: The server is down or slow, or answered 429/5xx.
        NonRetryableError: Another error status, or the body is not a feed.
    """
    headers = {"User-Agent": "SynthralOS-OSINT/0.1", "Accept": "application/rss+xml, application/atom+xml, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        with client(timeout=timeout, follow_redirects=True) as http:
            response = http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise RetryableError(f"could not fetch the feed {url}: {type(exc).__name__}") from None
    if response.status_code == 304:
        return [], etag, modified
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"the feed {url} answered {response.status_code}; it may work later")
    if response.status_code >= 400:
        raise NonRetryableError(f"the feed {url} answered {response.status_code}; check the URL")
    if len(response.content) > MAX_BYTES:
        raise NonRetryableError(f"the feed {url} is larger than {MAX_BYTES // 1024 // 1024} MiB; refusing it")
    parsed = feedparser.parse(response.content)
    if parsed.get("bozo") and not parsed.get("entries"):
        raise NonRetryableError(
            f"{url} is not an RSS or Atom feed ({parsed.get('bozo_exception')}); point the stream at the feed itself"
        )
    channel = parsed.get("feed", {})
    outlet = str(channel.get("title") or "")
    language = str(channel.get("language") or "")[:2].lower() or None
    signals = [_signal(entry, outlet, language) for entry in parsed.get("entries", [])]
    return signals, response.headers.get("etag"), response.headers.get("last-modified")
