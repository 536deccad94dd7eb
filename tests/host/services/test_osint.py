"""OSINT streams: signals kept once across restarts, noise and near duplicates dropped, alerts and digests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from synthral.config import EngineSettings, Settings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.errors import Conflict, InputInvalid, NotFound
from synthral.plugins.host import PluginHost
from synthral.runtime import HostRuntime
from synthral.services.osint.digest import DigestQuery
from synthral.services.osint.ingest import alert_execution_id
from synthral.services.osint.service import AlertRequest, DigestRequest, OsintService, StreamRequest
from synthral.services.osint.signals import NEAR_DISTANCE, NoiseFilter, content_hash, fingerprint, hamming, normalise
from synthral.services.osint.streams import OsintStreams
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.osint_tables import OSINT_DIGEST, OSINT_SIGNAL, OSINT_STREAM
from synthral.store.tables import EXECUTION, WORKSPACE, utcnow
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow

QUAKE = "A magnitude 6.1 earthquake hits the coast of Chile, officials say no tsunami warning was issued for the region"
QUAKE_EDITED = (
    "BREAKING - A magnitude 6.1 earthquake hits the coast of Chile; officials say no tsunami warning was issued "
    "for this region"
)
RATES = "The central bank raised interest rates by a quarter point on Tuesday, citing persistent inflation"
PORT = "Dockworkers at the northern port walked out at dawn over a pay dispute that has lasted three months"


@dataclass
class Source:
    """A JSON feed on 127.0.0.1 (GET ?after=ID answers the items newer than ID); it records the cursors asked."""

    url: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)
    asked: list[int] = field(default_factory=list)

    def post(self, text: str, **extra: Any) -> None:
        self.items.append({"id": len(self.items) + 1, "text": text, "author": "wire", **extra})


@pytest.fixture
def source() -> Iterator[Source]:
    served = Source()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            after = int(parse_qs(urlsplit(self.path).query).get("after", ["0"])[0])
            served.asked.append(after)
            body = json.dumps([i for i in served.items if i["id"] > after]).encode()
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
    workflows: WorkflowService
    osint: OsintService
    workspace: str
    other: str

    def streams(self, name: str = "scheduler-a") -> OsintStreams:
        """The streams' runner as a fresh scheduler process has it: nothing in memory."""
        return OsintStreams(Engine(self.database, self.plugins), owner_id=name)

    async def signals(self, workspace: str | None = None) -> list[Any]:
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(OSINT_SIGNAL)
                .where(OSINT_SIGNAL.c.workspace_id == (workspace or self.workspace))
                .order_by(OSINT_SIGNAL.c.source_id)
            )
            return list(rows)

    async def stream(self) -> Any:
        async with self.database.engine.connect() as connection:
            return (await connection.execute(select(OSINT_STREAM))).one()

    async def due_now(self) -> None:
        await self.database.write(lambda c: c.execute(update(OSINT_STREAM).values(next_poll_at=utcnow())))

    async def runs(self) -> list[Any]:
        async with self.database.engine.connect() as connection:
            return list(await connection.execute(select(EXECUTION).where(EXECUTION.c.trigger == "osint")))


async def _workspace(database: Database, slug: str) -> str:
    workspace_id = f"ws-{slug}"
    await database.write(
        lambda c: c.execute(WORKSPACE.insert().values(id=workspace_id, slug=slug, name=slug, created_at=utcnow()))
    )
    return workspace_id


@pytest.fixture
async def rig(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Rig]:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    workflows = WorkflowService(database, plugins, engine)
    yield Rig(
        database,
        plugins,
        workflows,
        OsintService(database, workflows),
        await _workspace(database, "acme"),
        await _workspace(database, "globex"),
    )
    await plugins.close()


def subscription(url: str, **extra: Any) -> StreamRequest:
    return StreamRequest.model_validate({"name": "wire", "source": "noop/feed", "config": {"url": url}, **extra})


async def _workflow(rig: Rig, name: str = "respond", workspace: str | None = None) -> str:
    workflow = Workflow.model_validate({"name": name, "nodes": [{"id": "note", "type": "core/noop"}]})
    saved = await rig.workflows.save(workflow, workspace_id=workspace or rig.workspace)
    return saved.workflow_id


def test_a_lightly_edited_story_is_a_near_duplicate_and_another_story_is_not() -> None:
    assert hamming(fingerprint(QUAKE), fingerprint(QUAKE_EDITED)) <= NEAR_DISTANCE
    assert hamming(fingerprint(QUAKE), fingerprint(RATES)) > 10
    assert content_hash("Hello,   WORLD! https://t.co/x") == content_hash("hello world")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    event = {"id": 7, "title": "Headline", "summary": "<p>Body</p>", "link": "https://n.test/7", "lang": "EN", "x": 1}
    signal = normalise(event, default_source="news", now=now)
    assert signal is not None
    assert (signal.source, signal.source_id, signal.text, signal.url, signal.language, signal.raw) == (
        "news",
        "7",
        "Headline Body",
        "https://n.test/7",
        "en",
        {"title": "Headline", "summary": "<p>Body</p>", "x": 1},
    )
    assert signal.published_at == now
    assert normalise({"id": 8, "text": "  "}, default_source="news", now=now) is None


def test_noise_is_told_apart_from_signal() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    noise = NoiseFilter(block=["crypto giveaway"], languages=["en"])

    def why(text: str, **extra: Any) -> str | None:
        signal = normalise({"id": 1, "text": text, **extra}, default_source="x", now=now)
        assert signal is not None
        return noise.reason(signal)

    assert why("lol") == "too_short"
    assert why("@a @b @c #d #e https://x.test/1 look") == "mostly_links"
    assert why("Huge CRYPTO GIVEAWAY today only, send one coin to get two back") == "blocked_word"
    assert why(PORT, language="de") == "language"
    assert why(PORT) is None and why(PORT, language="EN") is None


async def test_a_stream_keeps_each_signal_once_and_a_restarted_scheduler_resumes_from_its_cursor(
    rig: Rig, source: Source
) -> None:
    for text in (QUAKE, RATES, "ok"):
        source.post(text)
    made = await rig.osint.subscribe(rig.workspace, None, subscription(source.url))
    first = await rig.streams().tick()
    assert (first.polled, first.kept, first.filtered, first.errors) == (1, 2, 1, [])
    stream = await rig.stream()
    assert (stream.state, stream.signals, stream.filtered, stream.claimed_by) == ({"after": 3}, 2, 1, None)
    assert [s.text for s in await rig.signals()] == [QUAKE, RATES]

    # A scheduler claims the stream, asks the source, and dies before its commit: its claim lapses.
    source.post(PORT)
    source.post(QUAKE_EDITED)
    await rig.due_now()
    doomed = rig.streams("scheduler-dead")
    claimed = await rig.database.write(lambda c: doomed.leases.claim(c, made.id))
    assert claimed is not None
    await rig.database.write(
        lambda c: c.execute(update(OSINT_STREAM).values(claimed_until=utcnow() - timedelta(seconds=1)))
    )
    assert (await rig.stream()).state == {"after": 3}  # nothing committed: the cursor did not move

    restarted = await rig.streams("scheduler-b").tick()
    assert (restarted.kept, restarted.duplicates) == (1, 1)  # the port story; the edited quake is a near duplicate
    assert source.asked == [0, 3]  # resumed from the stored cursor, not from the start
    assert [s.text for s in await rig.signals()] == [QUAKE, RATES, PORT]

    # The cursor is lost (or a source re-sends everything): the signals come back and are repeats.
    await rig.database.write(lambda c: c.execute(update(OSINT_STREAM).values(state=None, next_poll_at=utcnow())))
    again = await rig.streams("scheduler-c").tick()
    assert (again.kept, again.repeated, again.duplicates, again.filtered) == (0, 3, 1, 1)
    assert len(await rig.signals()) == 3 and await rig.signals(rig.other) == []
    stream = await rig.stream()
    assert (stream.polls, stream.signals, stream.duplicates) == (3, 3, 2)


async def test_streams_survive_a_restart_of_the_whole_scheduler_process(
    database: Database, noop_home: Path, wheelhouse: Path, source: Source
) -> None:
    settings: Settings = make_settings(noop_home, wheelhouse).replace(
        engine={"database_url": database.url, "lease_seconds": 5.0}
    )
    workspace = await _workspace(database, "acme")
    source.post(QUAKE)
    async with HostRuntime(settings, scheduler=True, scheduler_interval=0.1) as runtime:
        osint = OsintService(runtime.app.database, runtime.app.workflows)
        await osint.subscribe(workspace, None, subscription(source.url, interval=5))
        await _until(lambda: _count(database), 1)
    source.post(RATES)
    await database.write(lambda c: c.execute(update(OSINT_STREAM).values(next_poll_at=utcnow())))
    async with HostRuntime(settings, scheduler=True, scheduler_interval=0.1) as runtime:
        await _until(lambda: _count(database), 2)
    assert source.asked[0] == 0 and source.asked[-1] == 1  # the second process asked from the stored cursor
    assert await _count(database) == 2


async def _count(database: Database) -> int:
    async with database.engine.connect() as connection:
        return len((await connection.execute(select(OSINT_SIGNAL.c.id))).all())


async def _until(probe: Any, wanted: int, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await probe() < wanted:
        assert loop.time() < deadline, f"still {await probe()} signals, wanted {wanted}"
        await asyncio.sleep(0.1)


async def test_a_matching_signal_starts_the_alert_workflow_once(rig: Rig, source: Source) -> None:
    workflow_id = await _workflow(rig)
    await rig.osint.subscribe(rig.workspace, None, subscription(source.url))
    alert = await rig.osint.create_alert(
        rig.workspace, None, AlertRequest(name="quakes", workflow_id=workflow_id, keywords=["earthquake", "tsunami"])
    )
    await rig.osint.create_alert(
        rig.workspace, None, AlertRequest(name="other wire", workflow_id=workflow_id, authors=["someone else"])
    )
    source.post(QUAKE)
    source.post(RATES)
    report = await rig.streams().tick()
    assert report.runs_started == 1
    [run] = await rig.runs()
    [quake] = [s for s in await rig.signals() if s.text == QUAKE]
    assert run.id == alert_execution_id(alert.id, quake.id)
    assert run.input["alert"]["name"] == "quakes" and run.input["signal"]["text"] == QUAKE
    [listed, _] = sorted(await rig.osint.alerts(rig.workspace), key=lambda a: -a["fired_count"])
    assert (listed["name"], listed["fired_count"]) == ("quakes", 1)
    assert await rig.osint.alerts(rig.other) == []


async def test_bad_streams_and_alerts_are_refused_with_the_fix(rig: Rig, source: Source) -> None:
    with pytest.raises(InputInvalid, match="no installed plugin provides the trigger") as unknown:
        await rig.osint.subscribe(rig.workspace, None, subscription(source.url, source="noop/fed"))
    assert unknown.value.details["issues"][0]["field"] == "source"
    with pytest.raises(InputInvalid, match="url") as config:
        await rig.osint.subscribe(rig.workspace, None, subscription(source.url, config={"url": 3}))
    assert config.value.details["issues"][0]["field"] == "config.url"
    with pytest.raises(InputInvalid, match="cannot fetch history"):
        await rig.osint.subscribe(rig.workspace, None, subscription(source.url, backfill_since="2026-01-01T00:00:00Z"))
    await rig.osint.subscribe(rig.workspace, None, subscription(source.url))
    with pytest.raises(Conflict, match="choose another name"):
        await rig.osint.subscribe(rig.workspace, None, subscription(source.url))
    elsewhere = await _workflow(rig, workspace=rig.other)
    with pytest.raises(NotFound, match="no workflow"):
        await rig.osint.create_alert(rig.workspace, None, AlertRequest(name="a", workflow_id=elsewhere))
    with pytest.raises(InputInvalid, match="keyword is empty"):
        await rig.osint.create_alert(
            rig.workspace, None, AlertRequest(name="a", workflow_id=await _workflow(rig), keywords=[" "])
        )


async def test_a_digest_summarises_the_window_and_a_scheduled_one_is_sent_once_per_slot(
    rig: Rig, source: Source
) -> None:
    now = utcnow()
    for n, text in enumerate((QUAKE, RATES, PORT)):
        source.post(text, published_at=(now - timedelta(hours=n * 10)).isoformat())
    await rig.osint.subscribe(rig.workspace, None, subscription(source.url))
    await rig.streams().tick()
    answer = await rig.osint.digest(rig.workspace, DigestRequest(query=DigestQuery(window_hours=12)), now=now)
    digest = answer["digest"]
    assert (digest["total"], digest["by_source"]) == (2, {"noop": 2})
    assert [s["text"] for s in digest["signals"]] == [QUAKE, RATES]
    assert {"term": "earthquake", "signals": 1} in digest["top_terms"]
    keyed = await rig.osint.digest(rig.workspace, DigestRequest(query=DigestQuery(window_hours=48, keywords=["PORT"])))
    assert [s["text"] for s in keyed["digest"]["signals"]] == [PORT]
    assert (await rig.osint.digest(rig.other, DigestRequest()))["digest"]["total"] == 0

    workflow_id = await _workflow(rig, "morning")
    request = DigestRequest.model_validate(
        {
            "query": {"window_hours": 48},
            "schedule": {"name": "morning", "cron": "0 8 * * *", "workflow_id": workflow_id},
        }
    )
    scheduled = (await rig.osint.digest(rig.workspace, request))["schedule"]
    assert scheduled["next_run_at"] is not None and scheduled["sent_count"] == 0
    await rig.database.write(
        lambda c: c.execute(update(OSINT_DIGEST).values(next_run_at=utcnow() - timedelta(minutes=1)))
    )
    assert (await rig.streams().tick()).digests_sent == 1
    assert (await rig.streams("scheduler-b").tick()).digests_sent == 0  # the slot is gone
    [run] = await rig.runs()
    assert run.input["digest"]["name"] == "morning" and run.input["digest"]["total"] == 3
    assert request.schedule is not None
    bad = request.model_copy(update={"schedule": request.schedule.model_copy(update={"cron": "61 * * * *"})})
    with pytest.raises(InputInvalid, match="cron"):
        await rig.osint.digest(rig.workspace, bad)


async def test_a_killed_scheduler_process_is_replaced_and_resumes_from_the_cursor_without_duplicates(
    rig: Rig, source: Source, wheelhouse: Path, noop_home: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SYNTHRAL_HOME": str(noop_home),
        "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
        "SYNTHRAL_DATABASE_URL": rig.database.engine.url.render_as_string(hide_password=False),
    }

    def scheduler(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            command = [sys.executable, "-m", "synthral", "scheduler", "--interval", "0.1", "--prune-every-hours", "0"]
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    source.post(QUAKE)
    source.post(RATES)
    await rig.osint.subscribe(rig.workspace, None, subscription(source.url, interval=5))
    first = scheduler("first")
    try:
        await _until(lambda: _count(rig.database), 2, timeout=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # A claim the killed process held lapses after its lease; here it lapses at once.
    await rig.database.write(
        lambda c: c.execute(update(OSINT_STREAM).values(claimed_by=None, claimed_until=None, next_poll_at=utcnow()))
    )
    assert (await rig.stream()).state == {"after": 2}
    source.post(QUAKE_EDITED)
    source.post(PORT)
    second = scheduler("second")
    try:
        await _until(lambda: _count(rig.database), 3, timeout=120)
        await _until(lambda: _polls(rig), 2, timeout=60)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    assert [s.text for s in await rig.signals()] == [QUAKE, RATES, PORT]
    assert source.asked[0] == 0 and 2 in source.asked and 0 not in source.asked[1:]  # never asked from the start again
    stream = await rig.stream()
    assert (stream.signals, stream.duplicates) == (3, 1)


async def _polls(rig: Rig) -> int:
    return int((await rig.stream()).polls)
