"""Polling triggers: one run per new event, a cursor kept in the database, nothing lost or repeated."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from synthral.config import EngineSettings
from synthral.engine.model import Workflow
from synthral.engine.polling import TriggerPoller, event_key
from synthral.engine.runtime import Engine
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, TRIGGER_CURSOR, utcnow
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow


@dataclass
class Feed:
    """A JSON feed on 127.0.0.1 (the service a trigger watches); it records the cursors it is asked with."""

    url: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)
    asked: list[int] = field(default_factory=list)
    ignore_cursor: bool = False
    broken: bool = False


@pytest.fixture
def feed() -> Iterator[Feed]:
    served = Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            after = int(parse_qs(urlsplit(self.path).query).get("after", ["0"])[0])
            served.asked.append(after)
            if served.broken:
                self.send_response(503)
                self.end_headers()
                return
            items = [i for i in served.items if served.ignore_cursor or i["id"] > after]
            body = json.dumps(items).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/feed"
    yield served
    server.shutdown()
    server.server_close()


@dataclass
class Rig:
    database: Database
    plugins: PluginHost
    service: WorkflowService

    def poller(self, name: str = "poller-a") -> TriggerPoller:
        """A poller as a fresh process would have: nothing in memory."""
        return TriggerPoller(Engine(self.database, self.plugins), poller_id=name)

    async def inputs(self) -> list[dict[str, Any]]:
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(select(EXECUTION.c.input, EXECUTION.c.trigger).order_by(EXECUTION.c.id))
            return sorted((row.input for row in rows if row.trigger == "poll"), key=lambda item: item["id"])

    async def cursor(self) -> Any:
        async with self.database.engine.connect() as connection:
            return (await connection.execute(select(TRIGGER_CURSOR))).one()

    async def due_now(self) -> None:
        await self.database.write(
            lambda connection: connection.execute(update(TRIGGER_CURSOR).values(next_poll_at=utcnow()))
        )


@pytest.fixture
async def rig(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Rig]:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    yield Rig(database, plugins, WorkflowService(database, plugins, engine))
    await plugins.close()


def definition(url: str, **trigger: Any) -> dict[str, Any]:
    return {
        "name": "watch",
        "nodes": [{"id": "note", "type": "core/set", "config": {"values": {"seen": True}}}],
        "triggers": [{"type": "poll", "trigger": "noop/feed", "config": {"url": url}, "interval": 60, **trigger}],
    }


def watching(url: str, **trigger: Any) -> Workflow:
    return Workflow.model_validate(definition(url, **trigger))


async def test_each_new_event_starts_one_run_and_the_cursor_moves_with_them(rig: Rig, feed: Feed) -> None:
    feed.items = [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}, {"id": 3, "title": "c"}]
    saved = await rig.service.save(watching(feed.url))
    assert saved.plugin_versions == {"noop": "1.0.0"}  # the trigger's plugin is pinned
    first = await rig.poller().tick()
    assert (first.polled, first.started, first.errors) == (1, 3, [])
    assert [event["id"] for event in await rig.inputs()] == [1, 2, 3]
    cursor = await rig.cursor()
    assert (cursor.state, cursor.polls, cursor.events, cursor.claimed_by) == ({"after": 3}, 1, 3, None)
    assert cursor.next_poll_at > utcnow()

    nothing = await rig.poller().tick()  # not due yet: nothing is asked
    assert nothing.polled == 0 and feed.asked == [0]
    feed.items += [{"id": 4, "title": "d"}]
    await rig.due_now()
    second = await rig.poller("poller-b").tick()  # another process, after a restart: the cursor is the database's
    assert (second.started, feed.asked) == (1, [0, 3])
    assert [event["id"] for event in await rig.inputs()] == [1, 2, 3, 4]


async def test_an_event_reported_again_starts_no_second_run(rig: Rig, feed: Feed) -> None:
    feed.items = [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]
    await rig.service.save(watching(feed.url))
    await rig.poller().tick()
    # The cursor is lost (a poller died after the call, before its commit; or the source re-sends):
    # the same events come back and are recognised.
    await rig.database.write(lambda connection: connection.execute(update(TRIGGER_CURSOR).values(state=None)))
    feed.ignore_cursor = True
    await rig.due_now()
    again = await rig.poller().tick()
    assert (again.started, again.repeated) == (0, 2)
    assert [event["id"] for event in await rig.inputs()] == [1, 2]
    assert event_key({"id": 7}) == "id:7" and event_key({"title": "x"}).startswith("sha256:")


async def test_a_failing_poll_is_recorded_and_retried_after_its_interval(rig: Rig, feed: Feed) -> None:
    feed.broken = True
    await rig.service.save(watching(feed.url))
    report = await rig.poller().tick()
    assert report.polled == 0 and len(report.errors) == 1 and "noop/feed" in report.errors[0]
    cursor = await rig.cursor()
    assert cursor.last_error and cursor.claimed_by is None and cursor.state is None
    assert cursor.next_poll_at > utcnow()  # not hammered
    feed.broken = False
    feed.items = [{"id": 9}]
    await rig.due_now()
    assert (await rig.poller().tick()).started == 1
    assert (await rig.cursor()).last_error is None


async def test_a_changed_trigger_starts_afresh_and_an_unchanged_one_keeps_its_cursor(rig: Rig, feed: Feed) -> None:
    feed.items = [{"id": 5}]
    await rig.service.save(watching(feed.url))
    await rig.poller().tick()
    await rig.service.save(watching(feed.url, interval=120))
    kept = await rig.cursor()
    assert kept.state == {"after": 5} and kept.interval_seconds == 120
    await rig.service.save(watching(feed.url + "?other"))
    assert (await rig.cursor()).state is None
    plain = Workflow.model_validate({"name": "watch", "nodes": [{"id": "note", "type": "core/noop"}]})
    await rig.service.save(plain)
    async with rig.database.engine.connect() as connection:
        assert (await connection.execute(select(TRIGGER_CURSOR))).all() == []


async def test_poll_triggers_are_validated_like_nodes(rig: Rig) -> None:
    cases = {
        "noop/fed": "unknown_trigger",
        "noop/echo": "not_a_trigger",
    }
    for name, code in cases.items():
        issues = rig.service.check(definition("http://x", trigger=name))
        assert [(i.code, i.pointer) for i in issues] == [(code, "/triggers/0/trigger")], issues
    bad = definition("x")
    bad["triggers"][0]["config"] = {"url": 3}
    issues = rig.service.check(bad)
    assert [(i.code, i.pointer, i.node) for i in issues] == [("config_invalid", "/triggers/0/config/url", None)]
