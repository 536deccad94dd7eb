"""New Reddit posts as an OSINT stream, read with praw (Reddit's OAuth API, application-only).

A subreddit's ``new`` listing, or a search in it sorted by ``new``, is read each poll. The
cursor is the newest post's ``created_utc`` and the ids already reported at that time, not a
``before`` fullname: a deleted post would make ``before`` answer nothing forever. ``since``
(backfill) reads back up to ``backfill_limit`` posts on the first poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import praw
import prawcore
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, PollRequest, PollResult, Trigger, hookimpl
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["Posts", "synthral_triggers"]

SEEN_LIMIT = 2000


class Signal(BaseModel):
    """A post as a signal."""

    id: str
    source: str = "reddit"
    source_id: str = Field(description="The post's fullname, t3_…")
    url: str
    author: str | None = None
    text: str
    published_at: str
    subreddit: str
    score: int = 0
    comments: int = 0
    link: str | None = Field(default=None, description="The page a link post points at.")


class PostsConfig(BaseModel):
    """Which posts to follow, and the app credentials."""

    model_config = ConfigDict(extra="forbid")

    subreddit: str = Field(pattern=r"^[A-Za-z0-9_]{2,21}(\+[A-Za-z0-9_]{2,21})*$", description="'worldnews' or 'a+b'.")
    query: str | None = Field(default=None, max_length=512, description="Search the subreddit (sorted by new).")
    client_id: str = Field(default="reddit_client_id", description="The stream secret holding the app's client id.")
    client_secret: str = Field(default="reddit_client_secret", description="The stream secret holding its secret.")
    user_agent: str = Field(default="synthral-osint/0.1", max_length=200, description="Reddit asks for a unique one.")
    limit: int = Field(default=100, ge=1, le=100, description="Posts read per poll.")
    backfill_limit: int = Field(default=1000, ge=1, le=1000, description="Posts read back at most for a backfill.")
    oauth_url: str = Field(default="https://oauth.reddit.com", pattern=r"^https?://")
    reddit_url: str = Field(default="https://www.reddit.com", pattern=r"^https?://")
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}", description="Backfill from this moment.")


def _signal(post: Any, reddit_url: str) -> Signal:
    title = str(post.title or "")
    body = str(getattr(post, "selftext", "") or "")
    link = getattr(post, "url", None)
    return Signal(
        id=str(post.id),
        source_id=str(post.name),
        url=reddit_url.rstrip("/") + str(post.permalink),
        author=None if post.author is None else str(post.author),
        text=f"{title}\n{body}".strip(),
        published_at=datetime.fromtimestamp(float(post.created_utc), UTC).isoformat(),
        subreddit=str(post.subreddit),
        score=int(post.score or 0),
        comments=int(post.num_comments or 0),
        link=None if getattr(post, "is_self", False) else link,
    )


class Posts(Trigger[PostsConfig]):
    """New posts of a subreddit (or matching a search in it), each once, oldest first."""

    name = "posts"
    title = "Reddit posts"
    event_model = Signal

    def poll(self, request: PollRequest, config: PostsConfig, context: Context) -> PollResult:
        """Read the newest posts; report those after the cursor."""
        client_id = context.secrets.get(config.client_id)
        client_secret = context.secrets.get(config.client_secret)
        if not client_id or not client_secret:
            raise ConfigurationError(
                f"Reddit needs an app's client id and secret: store them as credentials {config.client_id!r} and "
                f"{config.client_secret!r} and list both in the stream's secrets"
            )
        reddit = praw.Reddit(
            client_id=client_id,
            client_secret=client_secret,
            user_agent=config.user_agent,
            oauth_url=config.oauth_url,
            reddit_url=config.reddit_url,
            check_for_async=False,
            check_for_updates=False,
        )
        backfill = request.state is None and config.since is not None
        limit = config.backfill_limit if backfill else config.limit
        subreddit = reddit.subreddit(config.subreddit)
        listing = (
            subreddit.search(config.query, sort="new", time_filter="all", limit=limit)
            if config.query
            else subreddit.new(limit=limit)
        )
        try:
            posts = [_signal(post, config.reddit_url) for post in listing]
        except prawcore.exceptions.ResponseException as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise ConfigurationError(
                    f"Reddit refused the app credentials ({status}); check the client id and secret"
                ) from None
            if status == 429 or status >= 500:
                raise RetryableError(f"Reddit answered {status}; the stream retries at its next poll") from None
            raise NonRetryableError(
                f"Reddit answered {status} for r/{config.subreddit}; check the subreddit and the query"
            ) from None
        except prawcore.exceptions.OAuthException as exc:
            raise ConfigurationError(f"Reddit refused the app credentials ({exc}); check them") from None
        except (prawcore.exceptions.Redirect, prawcore.exceptions.NotFound):
            raise NonRetryableError(f"there is no subreddit {config.subreddit!r}") from None
        except prawcore.exceptions.RequestException as exc:
            raise RetryableError(f"could not reach Reddit: {type(exc.original_exception).__name__}") from None
        return self._advance(request.state, config, posts)

    @staticmethod
    def _advance(state: dict[str, JsonValue] | None, config: PostsConfig, posts: list[Signal]) -> PollResult:
        ordered = sorted(posts, key=lambda p: (_moment(p.published_at), p.id))
        if state is None and config.since is None:  # a live stream starts from the newest post
            newest = _moment(ordered[-1].published_at) if ordered else datetime.now(UTC)
            at_newest = [p.id for p in ordered if _moment(p.published_at) == newest]
            return PollResult(events=[], state={"after": newest.isoformat(), "seen": list(at_newest)})
        if state is None:
            after = _moment(str(config.since))
            seen: set[str] = set()
            fresh = [p for p in ordered if _moment(p.published_at) >= after]
        else:
            after = _moment(str(state.get("after")))
            listed = state.get("seen")
            seen = {str(s) for s in listed} if isinstance(listed, list) else set()
            fresh = [
                p
                for p in ordered
                if _moment(p.published_at) > after or (_moment(p.published_at) == after and p.id not in seen)
            ]
        newest = max([after, *(_moment(p.published_at) for p in fresh)])
        at_newest = (sorted(seen) if newest == after else []) + [
            p.id for p in fresh if _moment(p.published_at) == newest
        ]
        return PollResult(
            events=[p.model_dump(mode="json") for p in fresh],
            state={"after": newest.isoformat(), "seen": list(at_newest[-SEEN_LIMIT:])},
        )


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the posts source."""
    return [Posts()]
