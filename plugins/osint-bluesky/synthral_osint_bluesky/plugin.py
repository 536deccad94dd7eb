"""Bluesky posts as an OSINT stream, over the AT Protocol's XRPC HTTP API.

``app.bsky.feed.searchPosts`` (``sort=latest``, ``since``) follows a search;
``app.bsky.feed.getAuthorFeed`` follows an account. Pages come newest first with a ``cursor``;
a poll reads back until it meets the stream's cursor (the newest ``indexedAt`` seen and the
post URIs seen at that time) or ``max_pages``. With an app password, a session is made with
``com.atproto.server.createSession`` and its access token sent as a bearer token.

Reference: docs.bsky.app (HTTP reference: app.bsky.feed.searchPosts, getAuthorFeed,
com.atproto.server.createSession).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, PollRequest, PollResult, Trigger, hookimpl
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["Posts", "synthral_triggers"]

SEEN_LIMIT = 2000


class Signal(BaseModel):
    """A post as a signal."""

    id: str
    source: str = "bluesky"
    source_id: str = Field(description="The post's at:// URI.")
    url: str
    author: str
    text: str
    published_at: str | None = None
    language: str | None = None
    indexed_at: str
    likes: int = 0
    reposts: int = 0
    replies: int = 0


class PostsConfig(BaseModel):
    """What to follow, where, and how to sign in."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["search", "author"] = "search"
    q: str | None = Field(default=None, max_length=500, description="The search (mode 'search').")
    actor: str | None = Field(default=None, max_length=300, description="A handle or DID (mode 'author').")
    lang: str | None = Field(default=None, pattern=r"^[a-z]{2}$", description="Only posts in this language (search).")
    service: str = Field(
        default="https://public.api.bsky.app", pattern=r"^https?://", description="The AppView or PDS to ask."
    )
    identifier: str | None = Field(default=None, description="Handle to sign in with (with an app password).")
    credential: str | None = Field(default=None, description="The stream secret holding the app password.")
    max_pages: int = Field(default=5, ge=1, le=50)
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}", description="Backfill from this moment.")


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _signal(post: dict[str, Any]) -> Signal:
    record = post.get("record") or {}
    author = post.get("author") or {}
    handle = str(author.get("handle") or author.get("did") or "")
    uri = str(post["uri"])
    langs = record.get("langs") or []
    return Signal(
        id=uri,
        source_id=uri,
        url=f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}",
        author=handle,
        text=str(record.get("text") or ""),
        published_at=record.get("createdAt"),
        language=str(langs[0]) if langs else None,
        indexed_at=str(post.get("indexedAt") or record.get("createdAt")),
        likes=int(post.get("likeCount") or 0),
        reposts=int(post.get("repostCount") or 0),
        replies=int(post.get("replyCount") or 0),
    )


class _Xrpc:
    def __init__(self, config: PostsConfig, password: str | None, timeout: float, context: Context) -> None:
        self.config = config
        # The SDK's client applies the call's network policy (no private addresses unless allowed).
        self.http = context.http_client_sync(base_url=config.service.rstrip("/") + "/xrpc", timeout=timeout)
        if password:
            try:
                session = self.call(
                    "POST",
                    "com.atproto.server.createSession",
                    json={"identifier": config.identifier, "password": password},
                )
            except BaseException:  # a refused sign-in must not leave the connection open
                self.http.close()
                raise
            self.http.headers["Authorization"] = f"Bearer {session['accessJwt']}"

    def call(self, method: str, name: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, f"/{name}", **kwargs)
        except httpx.HTTPError as exc:
            raise RetryableError(f"could not reach {self.config.service}: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise ConfigurationError(
                f"{self.config.service} refused {name} ({response.status_code}): sign in with 'identifier' and an app "
                "password stored as the credential named in 'credential' (and in the stream's secrets)"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"{self.config.service} answered {response.status_code}; retried at the next poll")
        if response.status_code >= 400:
            error = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            kind, message = error.get("error", response.status_code), error.get("message", response.text[:200])
            raise NonRetryableError(f"{name} failed: {kind}: {message}")
        body = response.json()
        return body if isinstance(body, dict) else {}

    def page(self, cursor: str | None, since: str | None) -> tuple[list[dict[str, Any]], str | None]:
        config = self.config
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        if config.mode == "search":
            params |= {"q": config.q, "sort": "latest"}
            if config.lang:
                params["lang"] = config.lang
            if since:
                params["since"] = since
            body = self.call("GET", "app.bsky.feed.searchPosts", params=params)
            posts = body.get("posts") or []
        else:
            params["actor"] = config.actor
            body = self.call("GET", "app.bsky.feed.getAuthorFeed", params=params)
            posts = [item.get("post") for item in body.get("feed") or [] if isinstance(item, dict)]
        return [p for p in posts if isinstance(p, dict) and "uri" in p], body.get("cursor")


class Posts(Trigger[PostsConfig]):
    """New Bluesky posts of a search or an account, each once, oldest first."""

    name = "posts"
    title = "Bluesky posts"
    event_model = Signal

    def poll(self, request: PollRequest, config: PostsConfig, context: Context) -> PollResult:
        """Read pages newest first back to the cursor; report what is after it."""
        if config.mode == "search" and not config.q:
            raise ConfigurationError("a search stream needs 'q'")
        if config.mode == "author" and not config.actor:
            raise ConfigurationError("an author stream needs 'actor' (a handle or a DID)")
        password = context.secrets.get(config.credential) if config.credential else None
        if config.credential and (not password or not config.identifier):
            raise ConfigurationError(
                f"to sign in, give 'identifier' and list the credential {config.credential!r} in the stream's secrets"
            )
        state = request.state or {}
        after = _moment(str(state["after"])) if state.get("after") else None
        listed = state.get("seen")
        seen = {str(s) for s in listed} if isinstance(listed, list) else set()
        floor = after or (_moment(config.since) if config.since else None)
        client = _Xrpc(config, password, timeout=min(context.time_remaining() or 30.0, 30.0), context=context)
        try:
            posts: list[Signal] = []
            cursor = None
            for _ in range(1 if request.state is None and config.since is None else config.max_pages):
                batch, cursor = client.page(cursor, floor.isoformat() if floor and config.mode == "search" else None)
                posts.extend(_signal(p) for p in batch)
                if not cursor or not batch or (floor and _moment(posts[-1].indexed_at) < floor):
                    break
        finally:
            client.http.close()
        ordered = sorted(posts, key=lambda p: (_moment(p.indexed_at), p.id))
        if request.state is None and config.since is None:  # a live stream starts from the newest post
            newest = _moment(ordered[-1].indexed_at) if ordered else datetime.now(UTC)
            at = [p.id for p in ordered if _moment(p.indexed_at) == newest]
            return PollResult(events=[], state={"after": newest.isoformat(), "seen": list(at)})
        fresh = [
            p
            for p in ordered
            if floor is None or _moment(p.indexed_at) > floor or (_moment(p.indexed_at) == floor and p.id not in seen)
        ]
        newest = max((_moment(p.indexed_at) for p in fresh), default=floor or datetime.now(UTC))
        at = (sorted(seen) if newest == after else []) + [p.id for p in fresh if _moment(p.indexed_at) == newest]
        events: list[dict[str, JsonValue]] = [p.model_dump(mode="json") for p in fresh]
        return PollResult(events=events, state={"after": newest.isoformat(), "seen": list(at[-SEEN_LIMIT:])})


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the posts source."""
    return [Posts()]
