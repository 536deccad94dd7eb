"""The NewsCatcher News API (v2 ``/search``): keyword search over news sites, paged, with an API key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from synthral_osint_news.signals import Signal
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["DEFAULT_BASE", "search"]

DEFAULT_BASE = "https://api.newscatcherapi.com/v2"


def _moment(value: Any) -> str | None:
    # NewsCatcher writes "2026-01-02 03:04:05" (UTC).
    if not isinstance(value, str) or not value:
        return None
    return value.replace(" ", "T") + ("" if value.endswith("Z") or "+" in value else "+00:00")


def search(
    base: str,
    key: str,
    params: dict[str, str | int],
    timeout: float,
    *,
    client: Callable[..., httpx.Client] = httpx.Client,
) -> tuple[list[Signal], int]:
    """One page of ``/search``: its articles as signals and the number of pages.

    Raises:
        ConfigurationError: The key was refused (401/403).
        RetryableError: Rate limited (429) or the service is down.
        NonRetryableError: Another error (a bad query).
    """
    try:
        with client(timeout=timeout) as http:
            response = http.get(f"{base.rstrip('/')}/search", params=params, headers={"x-api-key": key})
    except httpx.HTTPError as exc:
        raise RetryableError(f"could not reach NewsCatcher: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise ConfigurationError(
            "NewsCatcher refused the API key; store a valid key in the credential named by the stream's secrets"
        )
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"NewsCatcher answered {response.status_code}; the stream retries at its next poll")
    if response.status_code >= 400:
        raise NonRetryableError(f"NewsCatcher refused the search ({response.status_code}): {response.text[:300]}")
    body = response.json()
    signals = []
    for article in body.get("articles") or []:
        ident = str(article.get("_id") or article.get("link") or "")
        if not ident:
            continue
        title = str(article.get("title") or "")
        summary = str(article.get("excerpt") or article.get("summary") or "")
        signals.append(
            Signal(
                id=ident,
                source_id=ident,
                url=article.get("link"),
                author=article.get("author") or None,
                text=f"{title}\n{summary}".strip(),
                published_at=_moment(article.get("published_date")),
                language=article.get("language") or None,
                title=title,
                outlet=str(article.get("clean_url") or ""),
            )
        )
    return signals, int(body.get("total_pages") or 1)
