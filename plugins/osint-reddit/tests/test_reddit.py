"""The Reddit source, through praw, against a local stand-in of Reddit's documented OAuth API.

Reference: github.com/reddit-archive/reddit/wiki/OAuth2 (application-only grant at
``/api/v1/access_token`` with HTTP Basic client credentials) and reddit.com/dev/api
(``/r/{subreddit}/new`` and ``/search``: a ``Listing`` of ``t3`` things, newest first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from synthral_osint_reddit.plugin import Posts

from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn

SECRETS = {"reddit_client_id": "app-id", "reddit_client_secret": "app-secret"}
BASE = 1_767_600_000  # 2026-01-05T08:00:00Z


class TestConformance(PluginConformance):
    dist = "synthral-osint-reddit"


def post(n: int, title: str, minutes: int) -> dict[str, Any]:
    return {
        "kind": "t3",
        "data": {
            "id": f"p{n}",
            "name": f"t3_p{n}",
            "title": title,
            "selftext": "" if n % 2 else f"Body of {n}",
            "is_self": n % 2 == 0,
            "url": f"https://news.test/{n}",
            "author": "observer" if n != 3 else "[deleted]",
            "created_utc": float(BASE + minutes * 60),
            "permalink": f"/r/osint/comments/p{n}/story/",
            "subreddit": "osint",
            "score": n * 10,
            "num_comments": n,
        },
    }


class Subreddit:
    def __init__(self) -> None:
        self.posts = [post(1, "Port strike spreads", 0), post(2, "Ceasefire talks", 10), post(3, "Flood warning", 20)]


@pytest.fixture
def reddit() -> Iterator[tuple[StandIn, Subreddit]]:
    api = StandIn()
    sub = Subreddit()

    @api.route("POST", "/api/v1/access_token")
    def token(request: Recorded) -> Reply:
        if request.headers.get("authorization") != "Basic YXBwLWlkOmFwcC1zZWNyZXQ=":  # app-id:app-secret
            return Reply(401, {"message": "Unauthorized", "error": 401})
        assert request.form["grant_type"] == "client_credentials"
        return Reply(200, {"access_token": "tok-1", "token_type": "bearer", "expires_in": 86400, "scope": "*"})

    def listing(request: Recorded) -> Reply:
        if request.headers.get("authorization") != "bearer tok-1":
            return Reply(401, {"message": "Unauthorized", "error": 401})
        children = sorted(sub.posts, key=lambda p: -p["data"]["created_utc"])
        query = request.arg("q")
        if query:
            children = [p for p in children if query.lower() in p["data"]["title"].lower()]
        limit = int(request.arg("limit") or 25)
        return Reply(200, {"kind": "Listing", "data": {"after": None, "before": None, "children": children[:limit]}})

    api.route("GET", "/r/osint/new")(listing)
    api.route("GET", "/r/osint/search/")(listing)
    api.route("GET", "/r/nosuch/new")(lambda request: Reply(404, {"message": "Not Found", "error": 404}))
    with api:
        yield api, sub


def config(api: StandIn, **extra: Any) -> dict[str, Any]:
    return {"subreddit": "osint", "oauth_url": api.url, "reddit_url": api.url, **extra}


def test_new_posts_are_reported_once_oldest_first_after_the_newest_at_start(
    reddit: tuple[StandIn, Subreddit],
) -> None:
    api, sub = reddit
    first = call(Posts(), {"state": None}, config=config(api), secrets=SECRETS)
    assert first["events"] == [] and first["state"] == {"after": "2026-01-05T08:20:00+00:00", "seen": ["p3"]}
    sub.posts += [post(5, "Second story at the same minute", 30), post(4, "Bridge closed", 30)]
    second = call(Posts(), {"state": first["state"]}, config=config(api), secrets=SECRETS)
    assert [e["id"] for e in second["events"]] == ["p4", "p5"]
    event = second["events"][0]
    assert (event["source"], event["source_id"], event["author"], event["text"]) == (
        "reddit",
        "t3_p4",
        "observer",
        "Bridge closed\nBody of 4",
    )
    assert event["url"] == f"{api.url}/r/osint/comments/p4/story/" and event["link"] is None
    assert call(Posts(), {"state": second["state"]}, config=config(api), secrets=SECRETS)["events"] == []
    assert api.last().arg("limit") == "100"


def test_a_backfill_reports_the_posts_since_the_moment_and_a_search_narrows_them(
    reddit: tuple[StandIn, Subreddit],
) -> None:
    api, _ = reddit
    history = call(Posts(), {"state": None}, config=config(api, since="2026-01-05T08:05:00Z"), secrets=SECRETS)
    assert [e["id"] for e in history["events"]] == ["p2", "p3"]
    assert history["events"][1]["author"] is None  # a deleted account
    found = call(Posts(), {"state": None}, config=config(api, query="flood", since="2026-01-01"), secrets=SECRETS)
    assert [e["id"] for e in found["events"]] == ["p3"] and api.last().arg("sort") == "new"


def test_missing_or_refused_credentials_and_unknown_subreddits_say_what_to_fix(
    reddit: tuple[StandIn, Subreddit],
) -> None:
    api, _ = reddit
    with pytest.raises(ConfigurationError, match="list both in the stream's secrets"):
        call(Posts(), {"state": None}, config=config(api))
    wrong = {"reddit_client_id": "app-id", "reddit_client_secret": "nope"}
    with pytest.raises(ConfigurationError, match="refused the app credentials"):
        call(Posts(), {"state": None}, config=config(api), secrets=wrong)
    with pytest.raises(NonRetryableError, match="nosuch"):
        call(Posts(), {"state": None}, config=config(api, subreddit="nosuch"), secrets=SECRETS)
