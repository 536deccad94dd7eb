"""RSS 2.0 and Atom feeds served by a local server; the trigger's deduplication and conditional GET."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_rss.plugin import NewItem, ReadFeed

from synthral_sdk.errors import EgressDenied, InputInvalid, NonRetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Acme news</title>{items}</channel></rss>"""
ITEM = """<item><title>{t}</title><link>https://acme.test/{g}</link><guid>{g}</guid><description>{d}</description>
<pubDate>Mon, 0{n} Jan 2026 10:00:00 GMT</pubDate><category>ops</category></item>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
<entry><id>urn:uuid:1</id><title>Hello</title><link href="https://blog.test/1"/><updated>2026-01-02T03:04:05Z</updated>
<summary>First post</summary><author><name>Ada</name></author></entry></feed>"""
STORIES: list[tuple[str, str, str]] = [("a", "Alpha", "one"), ("b", "Beta", "two")]


class TestConformance(PluginConformance):
    dist = "synthral-connector-rss"


@pytest.fixture
def site() -> Iterator[StandIn]:
    api = StandIn()

    @api.route("GET", "/feed.xml")
    def feed(request: Recorded) -> Reply:
        if request.headers.get("if-none-match") == '"v-unchanged"':
            return Reply(304)
        items = "".join(ITEM.format(t=t, g=g, d=d, n=n + 1) for n, (g, t, d) in enumerate(reversed(STORIES)))
        return Reply(
            200, raw=RSS.format(items=items).encode(), headers={"content-type": "application/rss+xml", "etag": '"v1"'}
        )

    api.route("GET", "/atom.xml")(
        lambda request: Reply(200, raw=ATOM.encode(), headers={"content-type": "application/atom+xml"})
    )
    api.route("GET", "/moved.xml")(lambda request: Reply(302, headers={"location": "http://10.0.0.1/feed.xml"}))
    api.route("GET", "/page.html")(
        lambda request: Reply(200, raw=b"<html><body>not a feed", headers={"content-type": "text/html"})
    )
    with api:
        yield api


def test_read_feed_normalises_rss_and_atom(site: StandIn) -> None:
    rss = call(ReadFeed(), {"url": f"{site.url}/feed.xml"})
    atom = call(ReadFeed(), {"url": f"{site.url}/atom.xml"})
    assert rss["title"] == "Acme news" and [i["id"] for i in rss["items"]] == ["b", "a"]
    assert rss["items"][0]["tags"] == ["ops"] and rss["items"][0]["published"] == "2026-01-01T10:00:00Z"
    assert atom["items"][0] == {
        "id": "urn:uuid:1",
        "title": "Hello",
        "link": "https://blog.test/1",
        "summary": "First post",
        "author": "Ada",
        "published": "2026-01-02T03:04:05Z",
        "tags": [],
        "content_hash": atom["items"][0]["content_hash"],
    }


def test_a_page_that_is_not_a_feed_says_so(site: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="not an RSS or Atom feed"):
        call(ReadFeed(), {"url": f"{site.url}/page.html"})
    with pytest.raises(InputInvalid, match="url"):
        call(ReadFeed(), {"url": "file:///etc/passwd"})


def test_new_item_emits_each_story_once_even_when_republished_under_a_new_guid(site: StandIn) -> None:
    config = {"url": f"{site.url}/feed.xml"}
    first = call(NewItem(), {"state": None}, config=config)
    STORIES.append(("c", "Gamma", "three"))
    STORIES.append(("c-again", "Gamma", "three"))  # the same story, re-published
    try:
        second = call(NewItem(), {"state": first["state"]}, config=config)
        third = call(NewItem(), {"state": second["state"]}, config=config)
    finally:
        del STORIES[2:]
    assert first["events"] == []
    assert [e["id"] for e in second["events"]] == ["c"]
    assert third["events"] == []
    assert site.last().headers["if-none-match"] == '"v1"'


def test_an_unchanged_feed_costs_a_304_and_keeps_the_state(site: StandIn) -> None:
    state = {"seen": ["id:a"], "etag": '"v-unchanged"', "modified": None}
    out = call(NewItem(), {"state": state}, config={"url": f"{site.url}/feed.xml"})
    assert out["events"] == [] and out["state"]["seen"] == ["id:a"] and out["state"]["etag"] == '"v-unchanged"'


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(site: StandIn) -> None:
    server = NetworkPolicy.server()  # a server's policy, the default Context()'s
    feed = f"{site.url}/feed.xml"
    with pytest.raises(EgressDenied) as denied:
        call(ReadFeed(), {"url": feed}, network=server)
    assert "127.0.0.1" in denied.value.message and "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    with pytest.raises(EgressDenied, match="loopback"):
        call(NewItem(), {"state": None}, config={"url": feed}, network=server)
    assert site.requests == []
    allowed = NetworkPolicy.server(["127.0.0.1"])  # the operator allowed the stand-in, not where it redirects
    assert call(ReadFeed(), {"url": feed}, network=allowed)["title"] == "Acme news"
    with pytest.raises(EgressDenied, match=r"10\.0\.0\.1.*private"):
        call(ReadFeed(), {"url": f"{site.url}/moved.xml"}, network=allowed)
