"""The news sources against local stand-ins: an RSS/Atom site and NewsCatcher's documented /v2/search.

References: RSS 2.0 and RFC 4287 (Atom); docs.newscatcherapi.com (v2 search: ``x-api-key``
header, ``q``/``from``/``lang``/``page``/``page_size`` parameters, ``articles`` and ``total_pages``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from synthral_osint_news.plugin import Feed, NewsCatcher

from synthral_sdk.errors import ConfigInvalid, ConfigurationError, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import ApiKeyAuth, Recorded, Reply, StandIn

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><language>en-gb</language>{items}
</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://wire.test/{guid}</link><guid>{guid}</guid>
<description>{text}</description><pubDate>{date}</pubDate><author>desk@wire.test</author></item>"""
KEY = "nc-test-key-0123456789"


class TestConformance(PluginConformance):
    dist = "synthral-osint-news"


class Site:
    def __init__(self) -> None:
        self.stories: list[tuple[str, str, str, str]] = [
            ("a", "Port strike", "Dockworkers walk out", "Mon, 05 Jan 2026 10:00:00 GMT"),
            ("b", "Quake", "A 6.1 earthquake hits Chile", "Tue, 06 Jan 2026 10:00:00 GMT"),
        ]

    def rss(self) -> bytes:
        items = "".join(
            ITEM.format(guid=g, title=t, text=x, date=d) for g, t, x, d in reversed(self.stories)
        )  # newest first, as feeds list them
        return RSS.format(items=items).encode()


@pytest.fixture
def site() -> Iterator[tuple[StandIn, Site]]:
    api = StandIn()
    content = Site()

    @api.route("GET", "/feed.xml")
    def feed(request: Recorded) -> Reply:
        if request.headers.get("if-none-match") == '"same"':
            return Reply(304)
        return Reply(200, raw=content.rss(), headers={"content-type": "application/rss+xml", "etag": '"v1"'})

    api.route("GET", "/down.xml")(lambda request: Reply(503))
    api.route("GET", "/page.html")(lambda request: Reply(200, raw=b"<html>hi", headers={"content-type": "text/html"}))
    with api:
        yield api, content


def test_a_feed_reports_new_items_once_oldest_first_in_the_signal_shape(site: tuple[StandIn, Site]) -> None:
    api, content = site
    config = {"url": f"{api.url}/feed.xml"}
    first = call(Feed(), {"state": None}, config=config)
    assert first["events"] == []  # a live stream starts from now
    content.stories.append(("c", "Rates", "The bank raised rates", "Wed, 07 Jan 2026 10:00:00 GMT"))
    second = call(Feed(), {"state": first["state"]}, config=config)
    [event] = second["events"]
    assert event == {
        "id": "c",
        "source": "news",
        "source_id": "c",
        "url": "https://wire.test/c",
        "author": "desk@wire.test",
        "text": "Rates\nThe bank raised rates",
        "published_at": "2026-01-07T10:00:00+00:00",
        "language": "en",
        "title": "Rates",
        "outlet": "Wire",
    }
    assert call(Feed(), {"state": second["state"]}, config=config)["events"] == []
    assert api.last().headers["if-none-match"] == '"v1"'
    unchanged = call(Feed(), {"state": {**second["state"], "etag": '"same"'}}, config=config)
    assert unchanged["events"] == [] and unchanged["state"]["seen"] == second["state"]["seen"]


def test_a_backfill_reports_the_history_since_the_given_moment_first(site: tuple[StandIn, Site]) -> None:
    api, _ = site
    out = call(Feed(), {"state": None}, config={"url": f"{api.url}/feed.xml", "since": "2026-01-06T00:00:00Z"})
    assert [e["id"] for e in out["events"]] == ["b"]
    everything = call(Feed(), {"state": None}, config={"url": f"{api.url}/feed.xml", "since": "2020-01-01"})
    assert [e["id"] for e in everything["events"]] == ["a", "b"]


def test_feed_errors_say_what_to_do(site: tuple[StandIn, Site]) -> None:
    api, _ = site
    with pytest.raises(NonRetryableError, match="not an RSS or Atom feed"):
        call(Feed(), {"state": None}, config={"url": f"{api.url}/page.html"})
    with pytest.raises(RetryableError, match="503"):
        call(Feed(), {"state": None}, config={"url": f"{api.url}/down.xml"})
    with pytest.raises(ConfigInvalid, match="url"):
        call(Feed(), {"state": None}, config={"url": "file:///etc/passwd"})


ARTICLES: list[dict[str, Any]] = [
    {
        "_id": f"art{n}",
        "title": f"Story {n} about the port strike",
        "excerpt": "Dockworkers walked out",
        "author": "Reporter",
        "published_date": f"2026-01-0{n} 08:00:00",
        "link": f"https://paper.test/{n}",
        "clean_url": "paper.test",
        "language": "en",
    }
    for n in range(1, 6)
]


@pytest.fixture
def newscatcher() -> Iterator[StandIn]:
    api = StandIn(auth=ApiKeyAuth(KEY, header="x-api-key"), unauthorized={"status": "error", "message": "Invalid key"})

    @api.route("GET", "/v2/search")
    def find(request: Recorded) -> Reply:
        since = str(request.arg("from"))
        size = int(request.arg("page_size") or 100)
        page = int(request.arg("page") or 1)
        hits = [a for a in ARTICLES if a["published_date"] > since]
        chunk = hits[(page - 1) * size : page * size]
        pages = max(1, -(-len(hits) // size))
        return Reply(
            200, {"status": "ok", "total_hits": len(hits), "page": page, "total_pages": pages, "articles": chunk}
        )

    with api:
        yield api


def test_newscatcher_backfills_by_pages_then_follows_from_its_cursor(newscatcher: StandIn) -> None:
    config = {"q": "port strike", "base_url": f"{newscatcher.url}/v2", "page_size": 2, "since": "2026-01-02T00:00:00Z"}
    first = call(NewsCatcher(), {"state": None}, config=config, secrets={"newscatcher": KEY})
    assert [e["source_id"] for e in first["events"]] == ["art2", "art3", "art4", "art5"]
    assert first["events"][0]["published_at"] == "2026-01-02T08:00:00+00:00"
    assert newscatcher.last().arg("q") == "port strike" and newscatcher.last().arg("page") == "2"
    again = call(NewsCatcher(), {"state": first["state"]}, config=config, secrets={"newscatcher": KEY})
    assert again["events"] == []  # the last article is the cursor: reported once


def test_newscatcher_without_a_valid_key_says_where_the_key_goes(newscatcher: StandIn) -> None:
    config = {"q": "x", "base_url": f"{newscatcher.url}/v2", "since": "2026-01-01"}
    with pytest.raises(ConfigurationError, match="list it in the stream's secrets"):
        call(NewsCatcher(), {"state": None}, config=config)
    with pytest.raises(ConfigurationError, match="refused the API key"):
        call(NewsCatcher(), {"state": None}, config=config, secrets={"newscatcher": "wrong"})


def test_a_feed_on_a_private_address_is_refused_under_the_servers_network_policy(site: tuple[StandIn, Site]) -> None:
    api, _ = site
    with pytest.raises(EgressDenied):  # a server's policy: public addresses only, the stand-in is on loopback
        call(Feed(), {"state": None}, config={"url": f"{api.url}/feed.xml"}, network=NetworkPolicy.server())
