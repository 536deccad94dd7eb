"""Posts on X (Twitter) as an OSINT stream: tweepy's client for the X API v2 search.

``GET /2/tweets/search/recent`` (the last 7 days, every paid tier) or ``/2/tweets/search/all``
(the full archive, Pro and Enterprise) with ``since_id``: the cursor is the newest post id,
so a resumed stream asks for exactly what came after it. ``since`` (backfill) becomes
``start_time`` on the first poll. Twint, which scraped X without the API, is dead since X
closed the endpoints it used; this source needs an API bearer token.

Reference: docs.x.com, X API v2 (search recent/all: ``query``, ``since_id``, ``start_time``,
``max_results``, ``next_token``; ``data``, ``includes.users``, ``meta.newest_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, PollRequest, PollResult, Trigger, hookimpl
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["Search", "synthral_triggers"]

X_API = "https://api.twitter.com"


class Signal(BaseModel):
    """A post as a signal."""

    id: str
    source: str = "x"
    source_id: str
    url: str
    author: str | None = None
    text: str
    published_at: str | None = None
    language: str | None = None
    author_id: str | None = None
    metrics: dict[str, int] = Field(default_factory=dict)


class SearchConfig(BaseModel):
    """The search, and the app's bearer token."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4096, description="An X API v2 search query, e.g. 'flood lang:en'.")
    archive: bool = Field(default=False, description="Search the full archive (Pro/Enterprise access) not 7 days.")
    credential: str = Field(default="x_bearer_token", description="The stream secret holding the bearer token.")
    max_pages: int = Field(default=5, ge=1, le=50, description="Pages of 100 per poll; the rest waits.")
    api_base: str = Field(default=X_API, pattern=r"^https?://", description="The API's address (a proxy, a test).")
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}", description="Backfill from this moment.")


class _Rebase(requests.adapters.HTTPAdapter):
    """Sends tweepy's requests, written for api.twitter.com, to another base address."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = self.base + str(request.url)[len(X_API) :]
        return super().send(request, *args, **kwargs)


def _client(config: SearchConfig, token: str) -> tweepy.Client:
    client = tweepy.Client(bearer_token=token, wait_on_rate_limit=False)
    if config.api_base.rstrip("/") != X_API:
        client.session.mount(X_API, _Rebase(config.api_base))
    return client


def _signals(response: Any) -> list[Signal]:
    users: Mapping[str, Any] = {str(u.id): u for u in (response.includes or {}).get("users", [])}
    out = []
    for tweet in response.data or []:
        user = users.get(str(tweet.author_id))
        handle = str(user.username) if user is not None else None
        created = tweet.created_at
        out.append(
            Signal(
                id=str(tweet.id),
                source_id=str(tweet.id),
                url=f"https://x.com/{handle or 'i/web'}/status/{tweet.id}",
                author=handle,
                text=str(tweet.text),
                published_at=created.astimezone(UTC).isoformat() if isinstance(created, datetime) else None,
                language=tweet.lang,
                author_id=None if tweet.author_id is None else str(tweet.author_id),
                metrics={k: int(v) for k, v in (tweet.public_metrics or {}).items()},
            )
        )
    return out


class Search(Trigger[SearchConfig]):
    """New posts matching an X search, each once, oldest first."""

    name = "search"
    title = "X (Twitter) search"
    event_model = Signal

    def poll(self, request: PollRequest, config: SearchConfig, context: Context) -> PollResult:
        """Search after the newest post seen (``since_id``), page by page."""
        token = context.secrets.get(config.credential)
        if not token:
            raise ConfigurationError(
                f"no X API bearer token: store it as the credential {config.credential!r} and list it in the stream's "
                "secrets (X has no free unauthenticated access; Twint no longer works)"
            )
        client = _client(config, token)
        search = client.search_all_tweets if config.archive else client.search_recent_tweets
        after = (request.state or {}).get("since_id")
        first = request.state is None
        params: dict[str, Any] = {
            "query": config.query,
            "max_results": 100 if config.archive or not first or config.since else 10,
            "tweet_fields": ["created_at", "lang", "author_id", "public_metrics"],
            "expansions": ["author_id"],
            "user_fields": ["username"],
        }
        if after:
            params["since_id"] = str(after)
        elif first and config.since:
            since = datetime.fromisoformat(config.since.replace("Z", "+00:00"))
            params["start_time"] = (since if since.tzinfo else since.replace(tzinfo=UTC)).isoformat()
        found: list[Signal] = []
        newest = str(after) if after else None
        try:
            token_next = None
            for _ in range(1 if first and not config.since else config.max_pages):
                response = search(**params, **({"next_token": token_next} if token_next else {}))
                found.extend(_signals(response))
                meta = response.meta or {}
                if meta.get("newest_id") and (newest is None or int(meta["newest_id"]) > int(newest)):
                    newest = str(meta["newest_id"])
                token_next = meta.get("next_token")
                if not token_next:
                    break
        except tweepy.errors.Unauthorized:
            raise ConfigurationError("X refused the bearer token (401); store a valid one in the credential") from None
        except tweepy.errors.Forbidden as exc:
            raise ConfigurationError(
                f"X refused the search for this app's access tier (403: {exc}); the full archive needs Pro access"
            ) from None
        except tweepy.errors.TooManyRequests:
            raise RetryableError("X's rate limit is reached (429); the stream retries at its next poll") from None
        except tweepy.errors.TwitterServerError as exc:
            raise RetryableError(f"X answered {exc.response.status_code}; retried at the next poll") from None
        except tweepy.errors.BadRequest as exc:
            raise NonRetryableError(f"X refused the search: {exc}; fix the query") from None
        except requests.RequestException as exc:
            raise RetryableError(f"could not reach the X API: {type(exc).__name__}") from None
        events: list[dict[str, JsonValue]] = (
            []
            if first and not config.since
            else [s.model_dump(mode="json") for s in sorted(found, key=lambda s: int(s.id))]
        )
        return PollResult(events=events, state={"since_id": newest})


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the search source."""
    return [Search()]
