"""The Mastodon source against a local stand-in of its documented REST and streaming APIs.

Reference: docs.joinmastodon.org (methods/timelines: ``min_id``/``max_id``/``limit``, newest
first; methods/streaming: server-sent events, ``event: update`` with a status as ``data``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from synthral_osint_mastodon.plugin import Timeline

from synthral_sdk.errors import ConfigurationError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import Recorded, Reply, StandIn

PAGE = 2  # the stand-in pages small, so paging is exercised


class TestConformance(PluginConformance):
    dist = "synthral-osint-mastodon"


def status(n: int, text: str, day: int = 5) -> dict[str, Any]:
    return {
        "id": str(100 + n),
        "uri": f"https://social.test/users/ana/statuses/{100 + n}",
        "url": f"https://social.test/@ana/{100 + n}",
        "created_at": f"2026-01-{day:02d}T10:00:0{n % 10}.000Z",
        "content": f"<p>{text} <a href='https://social.test/tags/osint'>#<span>osint</span></a></p>",
        "spoiler_text": "",
        "language": "en",
        "reblogs_count": n,
        "favourites_count": 0,
        "account": {"id": "1", "acct": "ana@social.test", "display_name": "Ana"},
        "tags": [{"name": "osint"}],
    }


class Server:
    def __init__(self) -> None:
        self.statuses = [status(1, "First &amp; oldest", 1), status(2, "Second", 3), status(3, "Third", 5)]
        self.pushed: list[dict[str, Any]] = []


@pytest.fixture
def mastodon() -> Iterator[tuple[StandIn, Server]]:
    api = StandIn()
    server = Server()

    @api.route("GET", "/api/v1/timelines/tag/{tag}")
    def tag(request: Recorded) -> Reply:
        newest_first = sorted(server.statuses, key=lambda s: int(s["id"]), reverse=True)
        limit = min(int(request.arg("limit") or 20), PAGE)
        if request.arg("min_id"):  # the page just after min_id, still newest first
            after = [s for s in newest_first if int(s["id"]) > int(str(request.arg("min_id")))]
            return Reply(200, after[-limit:])
        if request.arg("max_id"):
            newest_first = [s for s in newest_first if int(s["id"]) < int(str(request.arg("max_id")))]
        return Reply(200, newest_first[:limit])

    @api.route("GET", "/api/v1/streaming/hashtag")
    def stream(request: Recorded) -> Reply:
        lines = [":thump\n"]
        for pushed in server.pushed:
            lines.append(f"event: update\ndata: {json.dumps(pushed)}\n\n")
        lines.append('event: delete\ndata: "1"\n\n')
        return Reply(200, raw="".join(lines).encode(), headers={"content-type": "text/event-stream"})

    with api:
        yield api, server


def config(api: StandIn, **extra: Any) -> dict[str, Any]:
    return {"instance": api.url, "timeline": "hashtag", "hashtag": "osint", **extra}


def test_a_live_stream_starts_at_the_newest_status_and_reports_each_later_one_once(
    mastodon: tuple[StandIn, Server],
) -> None:
    api, server = mastodon
    first = call(Timeline(), {"state": None}, config=config(api))
    assert first == {"events": [], "state": {"after": "103"}}
    server.statuses += [status(4, "Fourth"), status(5, "Fifth"), status(6, "Sixth")]
    second = call(Timeline(), {"state": first["state"]}, config=config(api))
    assert [e["id"] for e in second["events"]] == ["104", "105", "106"]  # two pages, oldest first
    assert api.requests[-3].arg("min_id") == "103"
    event = second["events"][0]
    assert (event["source"], event["author"], event["text"], event["language"], event["tags"]) == (
        "mastodon",
        "ana@social.test",
        "Fourth #osint",
        "en",
        ["osint"],
    )
    assert event["source_id"] == "https://social.test/users/ana/statuses/104"
    assert call(Timeline(), {"state": second["state"]}, config=config(api))["events"] == []


def test_a_backfill_walks_back_to_the_given_moment(mastodon: tuple[StandIn, Server]) -> None:
    api, _ = mastodon
    out = call(Timeline(), {"state": None}, config=config(api, since="2026-01-02T00:00:00Z"))
    assert [e["id"] for e in out["events"]] == ["102", "103"]
    assert out["state"] == {"after": "103"}


def test_the_streaming_api_adds_what_it_pushes_after_the_rest_catch_up(mastodon: tuple[StandIn, Server]) -> None:
    api, server = mastodon
    server.statuses.append(status(4, "Caught up over REST"))
    server.pushed = [status(5, "Pushed live"), status(4, "Caught up over REST")]
    out = call(Timeline(), {"state": {"after": "103"}}, config=config(api, listen_seconds=1))
    assert [e["text"] for e in out["events"]] == ["Caught up over REST #osint", "Pushed live #osint"]
    assert out["state"] == {"after": "105"}
    assert api.last().path == "/api/v1/streaming/hashtag" and api.last().arg("tag") == "osint"


def test_a_server_that_wants_a_token_says_where_it_goes() -> None:
    api = StandIn()
    api.route("GET", "/api/v1/timelines/public")(
        lambda request: Reply(401, {"error": "This method requires an authenticated user"})
    )
    with api:
        with pytest.raises(ConfigurationError, match="needs an access token"):
            call(Timeline(), {"state": None}, config={"instance": api.url, "timeline": "public"})
        with pytest.raises(ConfigurationError, match="needs 'hashtag'"):
            call(Timeline(), {"state": None}, config={"instance": api.url})
        with pytest.raises(ConfigurationError, match="stream's secrets"):
            call(Timeline(), {"state": None}, config={"instance": api.url, "timeline": "public", "credential": "tok"})
