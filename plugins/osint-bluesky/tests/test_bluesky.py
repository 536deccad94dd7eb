"""The Bluesky source against a local stand-in of the AT Protocol XRPC endpoints it uses.

Reference: docs.bsky.app, HTTP reference: ``app.bsky.feed.searchPosts`` (``q``, ``sort``,
``since``, ``lang``, ``limit``, ``cursor``; answers ``posts`` and ``cursor``),
``app.bsky.feed.getAuthorFeed`` (``actor``; answers ``feed`` of ``{post}``) and
``com.atproto.server.createSession`` (``identifier``, ``password``; answers ``accessJwt``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from synthral_osint_bluesky.plugin import Posts

from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn

PAGE = 2


class TestConformance(PluginConformance):
    dist = "synthral-osint-bluesky"


def post(n: int, text: str, minute: int) -> dict[str, Any]:
    stamp = f"2026-01-05T10:{minute:02d}:00.000Z"
    return {
        "uri": f"at://did:plc:ana/app.bsky.feed.post/3k{n}",
        "cid": f"bafy{n}",
        "author": {"did": "did:plc:ana", "handle": "ana.bsky.social", "displayName": "Ana"},
        "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp, "langs": ["en"]},
        "indexedAt": stamp,
        "likeCount": n,
        "repostCount": 0,
        "replyCount": 1,
    }


class Network:
    def __init__(self) -> None:
        self.posts = [post(1, "Flooding reported near the river", 0), post(2, "Bridge closed by the flood", 5)]


@pytest.fixture
def bluesky() -> Iterator[tuple[StandIn, Network]]:
    api = StandIn()
    net = Network()

    def paged(request: Recorded, posts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
        newest_first = sorted(posts, key=lambda p: p["indexedAt"], reverse=True)
        since = request.arg("since")
        if since:
            newest_first = [p for p in newest_first if p["indexedAt"] >= since.replace("+00:00", ".000Z")]
        start = int(request.arg("cursor") or 0)
        page = newest_first[start : start + PAGE]
        return page, (str(start + PAGE) if start + PAGE < len(newest_first) else None)

    @api.route("GET", "/xrpc/app.bsky.feed.searchPosts")
    def search(request: Recorded) -> Reply:
        if request.arg("q") == "forbidden":
            return Reply(403, {"error": "Forbidden", "message": "search requires auth"})
        matching = [p for p in net.posts if str(request.arg("q")).lower() in p["record"]["text"].lower()]
        posts, cursor = paged(request, matching)
        return Reply(200, {"posts": posts, **({"cursor": cursor} if cursor else {})})

    @api.route("GET", "/xrpc/app.bsky.feed.getAuthorFeed")
    def author(request: Recorded) -> Reply:
        if request.headers.get("authorization") != "Bearer jwt-1":
            return Reply(401, {"error": "AuthenticationRequired", "message": "Authentication Required"})
        if request.arg("actor") != "ana.bsky.social":
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        posts, cursor = paged(request, net.posts)
        return Reply(200, {"feed": [{"post": p} for p in posts], **({"cursor": cursor} if cursor else {})})

    @api.route("POST", "/xrpc/com.atproto.server.createSession")
    def session(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        if body != {"identifier": "me.bsky.social", "password": "app-pass-1"}:
            return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
        return Reply(200, {"accessJwt": "jwt-1", "refreshJwt": "r", "did": "did:plc:me", "handle": "me.bsky.social"})

    with api:
        yield api, net


def test_a_search_stream_starts_at_the_newest_post_and_reports_later_ones_once(
    bluesky: tuple[StandIn, Network],
) -> None:
    api, net = bluesky
    config = {"q": "flood", "service": api.url}
    first = call(Posts(), {"state": None}, config=config)
    assert first["events"] == [] and first["state"]["after"] == "2026-01-05T10:05:00+00:00"
    net.posts += [post(3, "Flood waters rising downtown", 9), post(4, "Evacuation after the flood", 12)]
    net.posts += [post(5, "Unrelated story", 13)]
    second = call(Posts(), {"state": first["state"]}, config=config)
    assert [e["text"] for e in second["events"]] == ["Flood waters rising downtown", "Evacuation after the flood"]
    event = second["events"][0]
    assert (event["source"], event["author"], event["language"], event["url"]) == (
        "bluesky",
        "ana.bsky.social",
        "en",
        "https://bsky.app/profile/ana.bsky.social/post/3k3",
    )
    assert api.last().arg("sort") == "latest" and api.last().arg("since") == "2026-01-05T10:05:00+00:00"
    assert call(Posts(), {"state": second["state"]}, config=config)["events"] == []


def test_an_author_feed_backfills_across_pages_after_signing_in(bluesky: tuple[StandIn, Network]) -> None:
    api, net = bluesky
    net.posts += [post(3, "Third", 9), post(4, "Fourth", 12)]
    config = {
        "mode": "author",
        "actor": "ana.bsky.social",
        "service": api.url,
        "identifier": "me.bsky.social",
        "credential": "bsky",
        "since": "2026-01-05T10:05:00Z",
    }
    out = call(Posts(), {"state": None}, config=config, secrets={"bsky": "app-pass-1"})
    assert [e["text"] for e in out["events"]] == ["Bridge closed by the flood", "Third", "Fourth"]
    assert out["state"]["after"] == "2026-01-05T10:12:00+00:00"


def test_refusals_say_how_to_sign_in_or_what_to_fix(bluesky: tuple[StandIn, Network]) -> None:
    api, _ = bluesky
    with pytest.raises(ConfigurationError, match="app password"):
        call(Posts(), {"state": None}, config={"q": "forbidden", "service": api.url})
    with pytest.raises(ConfigurationError, match="needs 'q'"):
        call(Posts(), {"state": None}, config={"service": api.url})
    signed = {"mode": "author", "service": api.url, "identifier": "me.bsky.social", "credential": "bsky"}
    with pytest.raises(ConfigurationError, match=r"refused com\.atproto\.server\.createSession"):
        call(Posts(), {"state": None}, config={**signed, "actor": "x"}, secrets={"bsky": "wrong"})
    with pytest.raises(NonRetryableError, match="Profile not found"):
        call(Posts(), {"state": None}, config={**signed, "actor": "nobody"}, secrets={"bsky": "app-pass-1"})
