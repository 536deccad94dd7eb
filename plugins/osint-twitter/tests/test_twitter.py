"""The X source, through tweepy, against a local stand-in of the X API v2 search.

Reference: docs.x.com, X API v2: ``GET /2/tweets/search/recent`` and ``/search/all``
(bearer token; ``query``, ``since_id``, ``start_time``, ``max_results``, ``next_token``,
``tweet.fields``, ``expansions=author_id``; answers ``data``, ``includes.users``, ``meta``
with ``newest_id`` and ``next_token``; errors as ``{"title", "detail", "status"}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from synthral_osint_twitter.plugin import Search

from synthral_sdk.errors import ConfigurationError, RetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn

TOKEN = "AAAA-bearer"
SECRETS = {"x_bearer_token": TOKEN}
PAGE = 2


class TestConformance(PluginConformance):
    dist = "synthral-osint-twitter"


def tweet(n: int, text: str) -> dict[str, Any]:
    return {
        "id": str(1000 + n),
        "edit_history_tweet_ids": [str(1000 + n)],
        "text": text,
        "created_at": f"2026-01-05T10:{n:02d}:00.000Z",
        "lang": "en",
        "author_id": "42",
        "public_metrics": {"retweet_count": n, "reply_count": 0, "like_count": 2, "quote_count": 0},
    }


class Timeline:
    def __init__(self) -> None:
        self.tweets = [tweet(1, "Flood in the valley"), tweet(2, "Flood barriers up")]
        self.limited = False


@pytest.fixture
def x_api() -> Iterator[tuple[StandIn, Timeline]]:
    api = StandIn(
        auth=BearerAuth(TOKEN), unauthorized={"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}
    )
    timeline = Timeline()

    def search(request: Recorded) -> Reply:
        if timeline.limited:
            return Reply(429, {"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests"})
        newest_first = sorted(timeline.tweets, key=lambda t: -int(t["id"]))
        if request.arg("since_id"):
            newest_first = [t for t in newest_first if int(t["id"]) > int(str(request.arg("since_id")))]
        if request.arg("start_time"):
            start = str(request.arg("start_time")).replace("+00:00", ".000Z")
            newest_first = [t for t in newest_first if t["created_at"] >= start]
        skip = int(request.arg("next_token") or 0)
        size = min(int(request.arg("max_results") or 10), PAGE)
        page = newest_first[skip : skip + size]
        if not page:
            return Reply(200, {"meta": {"result_count": 0}})
        meta: dict[str, Any] = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
        if skip + size < len(newest_first):
            meta["next_token"] = str(skip + size)
        users = [{"id": "42", "name": "Valley News", "username": "valleynews"}]
        return Reply(200, {"data": page, "includes": {"users": users}, "meta": meta})

    api.route("GET", "/2/tweets/search/recent")(search)
    api.route("GET", "/2/tweets/search/all")(
        lambda request: Reply(403, {"title": "Forbidden", "status": 403, "detail": "needs a different access level"})
    )
    with api:
        yield api, timeline


def test_a_search_stream_reports_posts_after_the_newest_once_oldest_first(x_api: tuple[StandIn, Timeline]) -> None:
    api, timeline = x_api
    config = {"query": "flood lang:en", "api_base": api.url}
    first = call(Search(), {"state": None}, config=config, secrets=SECRETS)
    assert first == {"events": [], "state": {"since_id": "1002"}}
    timeline.tweets += [tweet(3, "Flood water recedes"), tweet(4, "Flood clean-up"), tweet(5, "Flood aid")]
    second = call(Search(), {"state": first["state"]}, config=config, secrets=SECRETS)
    assert [e["id"] for e in second["events"]] == ["1003", "1004", "1005"]  # two pages
    event = second["events"][0]
    assert (event["source"], event["author"], event["url"], event["language"], event["published_at"]) == (
        "x",
        "valleynews",
        "https://x.com/valleynews/status/1003",
        "en",
        "2026-01-05T10:03:00+00:00",
    )
    assert event["metrics"]["retweet_count"] == 3
    assert api.last().arg("since_id") == "1002" and second["state"] == {"since_id": "1005"}
    assert call(Search(), {"state": second["state"]}, config=config, secrets=SECRETS)["events"] == []


def test_a_backfill_asks_from_the_start_time(x_api: tuple[StandIn, Timeline]) -> None:
    api, _ = x_api
    config = {"query": "flood", "api_base": api.url, "since": "2026-01-05T10:02:00Z"}
    out = call(Search(), {"state": None}, config=config, secrets=SECRETS)
    assert [e["id"] for e in out["events"]] == ["1002"] and api.last().arg("start_time") == "2026-01-05T10:02:00+00:00"


def test_refusals_name_the_token_the_tier_or_the_rate_limit(x_api: tuple[StandIn, Timeline]) -> None:
    api, timeline = x_api
    config = {"query": "flood", "api_base": api.url}
    with pytest.raises(ConfigurationError, match="Twint no longer works"):
        call(Search(), {"state": None}, config=config)
    with pytest.raises(ConfigurationError, match="refused the bearer token"):
        call(Search(), {"state": None}, config=config, secrets={"x_bearer_token": "wrong"})
    with pytest.raises(ConfigurationError, match="Pro access"):
        call(Search(), {"state": None}, config={**config, "archive": True}, secrets=SECRETS)
    timeline.limited = True
    with pytest.raises(RetryableError, match="rate limit"):
        call(Search(), {"state": {"since_id": "1"}}, config=config, secrets=SECRETS)
