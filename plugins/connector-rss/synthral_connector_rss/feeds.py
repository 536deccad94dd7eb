"""Fetching and normalising feeds: one item shape for RSS 0.9x/1.0/2.0 and Atom."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx
from pydantic import BaseModel, Field

from synthral_sdk import Context
from synthral_sdk.errors import NonRetryableError, RetryableError

__all__ = ["FeedItem", "fetch_feed"]

MAX_BYTES = 10 * 1024 * 1024


class FeedItem(BaseModel):
    """One entry of a feed."""

    id: str = Field(description="The entry's guid/id, else its link, else a hash of title and summary.")
    title: str = ""
    link: str = ""
    summary: str = ""
    author: str = ""
    published: str | None = Field(default=None, description="ISO 8601 (UTC) when the feed gives a date.")
    tags: list[str] = Field(default_factory=list)
    content_hash: str = Field(description="SHA-256 of title and summary: the same story under a new id.")


def _iso(entry: Any) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat().replace("+00:00", "Z")


def _item(entry: Any) -> FeedItem:
    title = str(entry.get("title") or "").strip()
    summary = str(entry.get("summary") or "").strip()
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    return FeedItem(
        id=str(entry.get("id") or entry.get("link") or digest),
        title=title,
        link=str(entry.get("link") or ""),
        summary=summary,
        author=str(entry.get("author") or ""),
        published=_iso(entry),
        tags=[str(t.get("term")) for t in entry.get("tags") or [] if t.get("term")],
        content_hash=digest,
    )


def fetch_feed(
    url: str, timeout: float, etag: str | None = None, modified: str | None = None, *, context: Context
) -> tuple[str, list[FeedItem], str | None, str | None]:
    """Fetch ``url``; return the feed's title, its items and the validators for the next fetch.

    A 304 answer (unchanged since ``etag``/``modified``) returns no items. The request and
    every redirect it follows obey the call's network policy (``context.http_client_sync``).

    Raises:
        RetryableError: The server is down, slow or answered 429/5xx.
        NonRetryableError: Another error status, or the body is not a feed.
        EgressDenied: The feed, or a redirect, is at an address the policy refuses (loopback, private...).
    """
    headers = {
        "User-Agent": "SynthralOS-RSS/0.1 (+feed reader)",
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        with context.http_client_sync(timeout=timeout, follow_redirects=True) as client:
            response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise RetryableError(f"could not fetch the feed {url}: {type(exc).__name__}") from None
    if response.status_code == 304:
        return "", [], etag, modified
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"the feed {url} answered {response.status_code}; it may work later")
    if response.status_code >= 400:
        raise NonRetryableError(f"the feed {url} answered {response.status_code}; check the URL")
    if len(response.content) > MAX_BYTES:
        raise NonRetryableError(f"the feed {url} is larger than {MAX_BYTES // 1024 // 1024} MiB; refusing it")
    parsed = feedparser.parse(response.content)
    if parsed.get("bozo") and not parsed.get("entries"):
        reason = parsed.get("bozo_exception")
        raise NonRetryableError(f"{url} is not an RSS or Atom feed ({reason}); check the URL points at the feed itself")
    title = str(parsed.get("feed", {}).get("title") or "")
    return (
        title,
        [_item(e) for e in parsed.get("entries", [])],
        response.headers.get("etag"),
        response.headers.get("last-modified"),
    )
