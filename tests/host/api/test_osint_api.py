"""The OSINT routes: streams, alerts and digests per workspace and role, bad input answered with the fix."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from synthral.engine.runtime import Engine
from synthral.services.osint.streams import OsintStreams
from tests.support.api import Api
from tests.support.engine import chain

pytestmark = pytest.mark.slow

STORIES = [
    "A magnitude 6.1 earthquake hits the coast of Chile, officials say no tsunami warning was issued",
    "The central bank raised interest rates by a quarter point on Tuesday, citing persistent inflation",
]


@pytest.fixture
def feed_url() -> Iterator[str]:
    """A JSON feed on 127.0.0.1 as the noop plugin's feed trigger reads it (?after=ID)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps([{"id": n + 1, "text": t, "author": "wire"} for n, t in enumerate(STORIES)]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if "after=0" in self.path else b"[]")

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed"
    server.shutdown()
    server.server_close()


def stream(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "wire", "source": "noop/feed", "config": {"url": url}, "interval": 60, **extra}


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    return body


async def test_an_editor_subscribes_a_stream_that_only_its_workspace_sees(api: Api, feed_url: str) -> None:
    made = await api.call("editor", "POST", "/osint/stream", json=stream(feed_url))
    assert made.status_code == 201, made.text
    view = made.json()
    assert (view["source"], view["cursor"], view["signals"], view["filters"]["min_chars"]) == ("noop/feed", None, 0, 20)
    listed = (await api.call("viewer", "GET", "/osint/streams")).json()["items"]
    assert [s["id"] for s in listed] == [view["id"]]
    _problem(await api.call("viewer", "POST", "/osint/stream", json=stream(feed_url, name="other")), 403)
    _problem(await api.call("anonymous", "POST", "/osint/stream", json=stream(feed_url)), 401)
    outsider = await api.http.get("/osint/streams", headers=api.headers("outsider", workspace=api.other_workspace))
    assert outsider.status_code == 200 and outsider.json()["items"] == []
    _problem(await api.call("outsider", "GET", "/osint/streams"), 404)  # naming a workspace it is not in


async def test_bad_stream_input_is_refused_naming_the_field_and_the_fix(api: Api, feed_url: str) -> None:
    unknown = _problem(await api.call("editor", "POST", "/osint/stream", json=stream(feed_url, source="noop/fed")), 422)
    assert "no installed plugin provides the trigger 'noop/fed'" in unknown["detail"]
    config = _problem(await api.call("editor", "POST", "/osint/stream", json=stream(feed_url, config={"url": 3})), 422)
    assert "url" in config["detail"]
    too_fast = _problem(await api.call("editor", "POST", "/osint/stream", json=stream(feed_url, interval=1)), 422)
    assert "interval" in too_fast["detail"]
    extra = _problem(await api.call("editor", "POST", "/osint/stream", json=stream(feed_url, cursor={"x": 1})), 422)
    assert "cursor" in extra["detail"]
    history = _problem(
        await api.call("editor", "POST", "/osint/stream", json=stream(feed_url, backfill_since="2026-01-01T00:00:00Z")),
        422,
    )
    assert "cannot fetch history" in history["detail"]
    assert (await api.call("editor", "POST", "/osint/stream", json=stream(feed_url))).status_code == 201
    again = _problem(await api.call("editor", "POST", "/osint/stream", json=stream(feed_url)), 409)
    assert "choose another name" in again["detail"]
    assert len((await api.call("viewer", "GET", "/osint/streams")).json()["items"]) == 1  # nothing half-made


async def test_alert_rules_start_a_workflow_per_matching_signal_and_are_listed_per_workspace(
    api: Api, feed_url: str
) -> None:
    workflow = await api.call("editor", "POST", "/workflows", json=chain("respond", {"id": "a", "type": "core/noop"}))
    workflow_id = workflow.json()["id"]
    await api.call("editor", "POST", "/osint/stream", json=stream(feed_url))
    rule = {"name": "quakes", "workflow_id": workflow_id, "keywords": ["earthquake"]}
    made = await api.call("editor", "POST", "/osint/alerts", json=rule)
    assert made.status_code == 201, made.text
    _problem(await api.call("viewer", "POST", "/osint/alerts", json={**rule, "name": "x"}), 403)
    _problem(await api.call("editor", "POST", "/osint/alerts", json=rule), 409)
    _problem(await api.call("editor", "POST", "/osint/alerts", json={**rule, "name": "y", "keywords": ""}), 422)
    theirs = await api.http.post(
        "/workflows",
        json=chain("theirs", {"id": "a", "type": "core/noop"}),
        headers=api.headers("outsider", workspace=api.other_workspace),
    )
    foreign = _problem(
        await api.call(
            "editor", "POST", "/osint/alerts", json={**rule, "name": "z", "workflow_id": theirs.json()["id"]}
        ),
        404,
    )
    assert "no workflow" in foreign["detail"]

    report = await OsintStreams(Engine(api.state.app.database, api.state.app.plugins), owner_id="test").tick()
    assert (report.kept, report.runs_started, report.errors) == (2, 1, [])
    [alert] = (await api.call("viewer", "GET", "/osint/alerts")).json()["items"]
    assert (alert["name"], alert["fired_count"], alert["keywords"]) == ("quakes", 1, ["earthquake"])
    outsider = await api.http.get("/osint/alerts", headers=api.headers("outsider", workspace=api.other_workspace))
    assert outsider.json()["items"] == []
    _problem(await api.call("anonymous", "GET", "/osint/alerts"), 401)


async def test_a_digest_is_read_by_viewers_and_scheduled_by_editors(api: Api, feed_url: str) -> None:
    await api.call("editor", "POST", "/osint/stream", json=stream(feed_url))
    await OsintStreams(Engine(api.state.app.database, api.state.app.plugins), owner_id="test").tick()
    answer = await api.call("viewer", "POST", "/osint/digest", json={"query": {"window_hours": 6, "top_terms": 5}})
    assert answer.status_code == 200, answer.text
    digest = answer.json()["digest"]
    assert digest["total"] == 2 and {s["text"] for s in digest["signals"]} == set(STORIES)
    assert len(digest["top_terms"]) == 5 and answer.json()["schedule"] is None
    theirs = await api.http.post(
        "/osint/digest", json={}, headers=api.headers("outsider", workspace=api.other_workspace)
    )
    assert theirs.json()["digest"]["total"] == 0

    workflow = await api.call("editor", "POST", "/workflows", json=chain("morning", {"id": "a", "type": "core/noop"}))
    schedule = {
        "name": "morning",
        "cron": "0 8 * * *",
        "timezone": "Europe/Paris",
        "workflow_id": workflow.json()["id"],
    }
    denied = _problem(await api.call("viewer", "POST", "/osint/digest", json={"schedule": schedule}), 403)
    assert "editor" in denied["detail"]
    made = await api.call("editor", "POST", "/osint/digest", json={"schedule": schedule})
    assert made.status_code == 200 and made.json()["schedule"]["next_run_at"] is not None
    bad_cron = _problem(
        await api.call("editor", "POST", "/osint/digest", json={"schedule": {**schedule, "name": "b", "cron": "nope"}}),
        422,
    )
    assert "cron" in bad_cron["detail"]
    window = _problem(await api.call("viewer", "POST", "/osint/digest", json={"query": {"window_hours": 0}}), 422)
    assert "window_hours" in window["detail"]


async def test_a_stream_is_paused_resumed_and_deleted_by_editors_of_its_workspace_only(api: Api, feed_url: str) -> None:
    made = (await api.call("editor", "POST", "/osint/stream", json=stream(feed_url))).json()
    path = f"/osint/streams/{made['id']}"
    paused = await api.call("editor", "PATCH", path, json={"active": False})
    assert paused.status_code == 200 and paused.json()["is_active"] is False
    report = await OsintStreams(Engine(api.state.app.database, api.state.app.plugins), owner_id="test").tick()
    assert report.polled == 0  # a paused stream is not polled
    _problem(await api.call("viewer", "PATCH", path, json={"active": True}), 403)
    _problem(await api.call("editor", "PATCH", path, json={"active": "sometimes"}), 422)
    theirs = await api.http.patch(
        path, json={"active": True}, headers=api.headers("outsider", workspace=api.other_workspace)
    )
    _problem(theirs, 404)
    resumed = await api.call("editor", "PATCH", path, json={"active": True})
    assert resumed.json()["is_active"] is True
    report = await OsintStreams(Engine(api.state.app.database, api.state.app.plugins), owner_id="test").tick()
    assert report.kept == 2
    _problem(await api.http.delete(path, headers=api.headers("outsider", workspace=api.other_workspace)), 404)
    assert (await api.call("editor", "DELETE", path)).status_code == 204
    assert (await api.call("viewer", "GET", "/osint/streams")).json()["items"] == []
    _problem(await api.call("editor", "DELETE", path), 404)
    digest = (await api.call("viewer", "POST", "/osint/digest", json={})).json()["digest"]
    assert digest["total"] == 2 and digest["by_stream"] == {}  # the signals stay, without their stream


async def test_an_alert_rule_is_changed_muted_and_deleted_by_editors_of_its_workspace_only(
    api: Api, feed_url: str
) -> None:
    workflow_id = (
        await api.call("editor", "POST", "/workflows", json=chain("respond", {"id": "a", "type": "core/noop"}))
    ).json()["id"]
    stream_id = (await api.call("editor", "POST", "/osint/stream", json=stream(feed_url))).json()["id"]
    rule = {"name": "quakes", "workflow_id": workflow_id, "keywords": ["volcano"]}
    alert_id = (await api.call("editor", "POST", "/osint/alerts", json=rule)).json()["id"]
    await api.call("editor", "POST", "/osint/alerts", json={**rule, "name": "rates", "keywords": ["rates"]})
    path = f"/osint/alerts/{alert_id}"

    empty = _problem(await api.call("editor", "PATCH", path, json={}), 422)
    assert "names no field" in empty["detail"] and "keywords" in empty["detail"]
    assert "null" in _problem(await api.call("editor", "PATCH", path, json={"keywords": None}), 422)["detail"]
    blank = _problem(await api.call("editor", "PATCH", path, json={"keywords": ["quake", " "]}), 422)
    assert "keyword is empty" in blank["detail"]
    _problem(await api.call("editor", "PATCH", path, json={"name": "rates"}), 409)
    _problem(await api.call("editor", "PATCH", path, json={"stream_id": "nope"}), 404)
    _problem(await api.call("viewer", "PATCH", path, json={"keywords": ["earthquake"]}), 403)
    outsider = api.headers("outsider", workspace=api.other_workspace)
    _problem(await api.http.patch(path, json={"keywords": ["earthquake"]}, headers=outsider), 404)
    theirs = await api.http.post("/workflows", json=chain("theirs", {"id": "a", "type": "core/noop"}), headers=outsider)
    foreign = _problem(await api.call("editor", "PATCH", path, json={"workflow_id": theirs.json()["id"]}), 404)
    assert "no workflow" in foreign["detail"]
    unchanged = (await api.call("viewer", "GET", "/osint/alerts")).json()["items"]
    assert [a["keywords"] for a in unchanged] == [["volcano"], ["rates"]]  # every refused change left it as it was

    changed = await api.call(
        "editor", "PATCH", path, json={"keywords": ["Earthquake "], "stream_id": stream_id, "languages": ["EN"]}
    )
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert (view["keywords"], view["stream_id"], view["languages"], view["name"]) == (
        ["Earthquake"],
        stream_id,
        ["en"],
        "quakes",
    )
    muted = await api.call("editor", "PATCH", path, json={"active": False, "languages": []})
    assert muted.json()["is_active"] is False
    engine = Engine(api.state.app.database, api.state.app.plugins)
    report = await OsintStreams(engine, owner_id="test").tick()
    assert (report.kept, report.runs_started) == (2, 1)  # "rates" fired; the muted rule did not

    _problem(await api.http.delete(path, headers=outsider), 404)
    _problem(await api.call("viewer", "DELETE", path), 403)
    assert (await api.call("editor", "DELETE", path)).status_code == 204
    assert [a["name"] for a in (await api.call("viewer", "GET", "/osint/alerts")).json()["items"]] == ["rates"]
    _problem(await api.call("editor", "DELETE", path), 404)


async def test_a_scheduled_digest_is_listed_rescheduled_and_deleted_by_editors_of_its_workspace_only(
    api: Api,
) -> None:
    workflow_id = (
        await api.call("editor", "POST", "/workflows", json=chain("morning", {"id": "a", "type": "core/noop"}))
    ).json()["id"]
    schedule = {"name": "morning", "cron": "0 8 * * *", "timezone": "Europe/Paris", "workflow_id": workflow_id}
    made = (await api.call("editor", "POST", "/osint/digest", json={"schedule": schedule})).json()["schedule"]
    await api.call("editor", "POST", "/osint/digest", json={"schedule": {**schedule, "name": "evening"}})
    path = f"/osint/digests/{made['id']}"

    listed = (await api.call("viewer", "GET", "/osint/digests")).json()["items"]
    assert [d["name"] for d in listed] == ["evening", "morning"]
    outsider = api.headers("outsider", workspace=api.other_workspace)
    assert (await api.http.get("/osint/digests", headers=outsider)).json()["items"] == []

    bad_cron = _problem(await api.call("editor", "PATCH", path, json={"cron": "61 8 * * *"}), 422)
    assert "'61 8 * * *'" in bad_cron["detail"] and bad_cron["details"]["field"] == "cron"
    bad_zone = _problem(await api.call("editor", "PATCH", path, json={"timezone": "Mars/Olympus"}), 422)
    assert "IANA" in bad_zone["detail"] and bad_zone["details"]["field"] == "timezone"
    _problem(await api.call("editor", "PATCH", path, json={"name": "evening"}), 409)
    _problem(await api.call("editor", "PATCH", path, json={"query": {"window_hours": 0}}), 422)
    assert "names no field" in _problem(await api.call("editor", "PATCH", path, json={}), 422)["detail"]
    _problem(await api.call("viewer", "PATCH", path, json={"cron": "0 9 * * *"}), 403)
    _problem(await api.http.patch(path, json={"cron": "0 9 * * *"}, headers=outsider), 404)
    assert (await api.call("viewer", "GET", "/osint/digests")).json()["items"][1] == {**made, "sent_count": 0}

    moved = await api.call("editor", "PATCH", path, json={"cron": "30 6 * * 1", "timezone": "UTC"})
    assert moved.status_code == 200, moved.text
    view = moved.json()
    assert (view["cron"], view["timezone"]) == ("30 6 * * 1", "UTC")
    assert view["next_run_at"] != made["next_run_at"] and view["next_run_at"].endswith("06:30:00+00:00")
    renamed = await api.call("editor", "PATCH", path, json={"name": "weekly", "query": {"window_hours": 168}})
    assert (renamed.json()["name"], renamed.json()["query"]["window_hours"]) == ("weekly", 168)

    _problem(await api.http.delete(path, headers=outsider), 404)
    assert (await api.call("editor", "DELETE", path)).status_code == 204
    assert [d["name"] for d in (await api.call("viewer", "GET", "/osint/digests")).json()["items"]] == ["evening"]
    _problem(await api.call("editor", "DELETE", path), 404)
