"""Durable engine benchmarks: per-step overhead, start latency, throughput, waiting runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from sqlalchemy import func, select

from bench.common import Result, percentile, rss_mb
from synthral.config import Settings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, STEP, ExecutionStatus
from tests.support.postgres import PostgresServer

GROUP = "engine"


def noop_chain(name: str, steps: int) -> Workflow:
    nodes = [{"id": f"n{i}", "type": "core/noop"} for i in range(steps)]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(steps - 1)]
    return Workflow.model_validate({"name": name, "nodes": nodes, "edges": edges, "settings": {"max_steps": 100_000}})


async def plain_langgraph_per_step(steps: int, runs: int) -> float:
    """The same chain in plain LangGraph, no checkpointer: the framework's own cost per step."""

    class State(TypedDict, total=False):
        data: dict[str, Any]

    graph: StateGraph[Any] = StateGraph(State)

    async def noop(state: dict[str, Any]) -> dict[str, Any]:
        return {"data": state.get("data") or {}}

    for i in range(steps):
        graph.add_node(f"n{i}", noop)  # type: ignore[call-overload]
    graph.add_edge(START, "n0")
    for i in range(steps - 1):
        graph.add_edge(f"n{i}", f"n{i + 1}")
    graph.add_edge(f"n{steps - 1}", END)
    compiled = graph.compile()
    await compiled.ainvoke({"data": {}}, {"recursion_limit": steps + 10})
    started = time.perf_counter()
    for _ in range(runs):
        await compiled.ainvoke({"data": {}}, {"recursion_limit": steps + 10})
    return (time.perf_counter() - started) / (runs * steps)


class Stack:
    """A database, a plugin host, an engine and a service (no worker)."""

    def __init__(self, url: str, home: Path) -> None:
        self.database = Database(url)
        self.plugins = PluginHost(Settings.load(home=home).replace(plugins={"wheelhouse": home / "wheelhouse"}))
        self.engine = Engine(self.database, self.plugins)
        self.service = WorkflowService(self.database, self.plugins, self.engine)

    async def __aenter__(self) -> Stack:
        await self.database.migrate()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.plugins.close()
        await self.database.close()


async def wait_done(service: WorkflowService, execution_id: str) -> Any:
    """Wait for the run to end (polling its status only), then return its full view."""
    query = select(EXECUTION.c.status).where(EXECUTION.c.id == execution_id)
    while True:
        async with service.database.engine.connect() as connection:
            status = (await connection.execute(query)).scalar_one()
        if status in ExecutionStatus.TERMINAL:
            return await service.execution(execution_id)
        await asyncio.sleep(0.01)


async def per_step(url: str, home: Path, steps: int, runs: int) -> tuple[float, float]:
    """(seconds per step for a chain run by the engine, start latency p50 in seconds)."""
    async with Stack(url, home) as stack:
        saved = await stack.service.save(noop_chain("chain", steps))
        single = await stack.service.save(noop_chain("single", 1))
        worker = Worker(stack.engine, concurrency=1, poll_interval=0.05)
        task = asyncio.create_task(worker.run())
        try:
            await wait_done(stack.service, await stack.service.start(saved.workflow_id))  # warm: compile, caches
            durations = []
            for _ in range(runs):
                view = await wait_done(stack.service, await stack.service.start(saved.workflow_id))
                first = datetime.fromisoformat(view.steps[0]["started_at"])
                last = datetime.fromisoformat(view.steps[-1]["finished_at"])
                durations.append((last - first).total_seconds() / steps)
            latencies = []
            for _ in range(40):
                before = time.time()
                view = await wait_done(stack.service, await stack.service.start(single.workflow_id))
                latencies.append(datetime.fromisoformat(view.steps[0]["started_at"]).timestamp() - before)
        finally:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return percentile(durations, 50), percentile(latencies, 50)


def _worker_process(url: str, home: Path, concurrency: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SYNTHRAL_HOME": str(home), "SYNTHRAL_DATABASE_URL": url,
           "SYNTHRAL_WHEELHOUSE": str(home / "wheelhouse")}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "synthral", "worker", "--concurrency", str(concurrency)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def _count(database: Database, status: str) -> int:
    async with database.engine.connect() as connection:
        query = select(func.count()).select_from(EXECUTION).where(EXECUTION.c.status == status)
        return int((await connection.execute(query)).scalar_one())


async def throughput(url: str, home: Path, executions: int, steps: int) -> float:
    """Steps per second: ``executions`` queued short runs drained by two worker processes.

    Measured in the database, from the first step started to the last step finished, so
    neither queueing the runs nor starting the worker processes counts.
    """
    async with Stack(url, home) as stack:
        saved = await stack.service.save(noop_chain("short", steps))
        for _ in range(executions):
            await stack.service.start(saved.workflow_id)
        workers = [_worker_process(url, home, 25) for _ in range(2)]
        try:
            while await _count(stack.database, ExecutionStatus.COMPLETED) < executions:
                await asyncio.sleep(0.1)
            async with stack.database.engine.connect() as connection:
                first, last = (
                    await connection.execute(select(func.min(STEP.c.started_at), func.max(STEP.c.finished_at)))
                ).one()
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(30)
    return executions * steps / (last - first).total_seconds()


async def waiting_runs(url: str, home: Path, count: int) -> tuple[float, float, bool]:
    """RSS of a worker process with ``count`` runs waiting on signals, after they all resume."""
    workflow = Workflow.model_validate({
        "name": "waiting",
        "nodes": [{"id": "hold", "type": "engine/wait_signal", "config": {"signal": "go"}},
                  {"id": "after", "type": "core/noop"}],
        "edges": [{"source": "hold", "target": "after"}],
    })  # fmt: skip
    async with Stack(url, home) as stack:
        saved = await stack.service.save(workflow)
        worker = _worker_process(url, home, 50)
        try:
            ids = [await stack.service.start(saved.workflow_id) for _ in range(count)]
            while await _count(stack.database, ExecutionStatus.WAITING) < count:
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            waiting_rss = rss_mb(worker.pid)
            for execution_id in ids:
                await stack.service.signal(execution_id, name="go", data={}, dedupe_key="go")
            deadline = time.monotonic() + 300
            while await _count(stack.database, ExecutionStatus.COMPLETED) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            all_done = await _count(stack.database, ExecutionStatus.COMPLETED) == count
            after_rss = rss_mb(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    return waiting_rss, after_rss, all_done


def sqlite_commit_floor(path: Path, commits: int = 300) -> float:
    """Seconds per commit of one small row with the standard driver, WAL and synchronous=FULL."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    started = time.perf_counter()
    for _ in range(commits):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 1000,))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed / commits


async def run(quick: bool = False) -> list[Result]:
    """Run the group."""
    results: list[Result] = []
    work = Path(tempfile.mkdtemp(prefix="synthral-bench-engine-"))
    steps, runs = (100, 3) if quick else (100, 10)
    plain = await plain_langgraph_per_step(steps, runs)
    server = PostgresServer.start()
    try:
        for backend, url, target in (
            ("SQLite", f"sqlite+aiosqlite:///{work / 'chain.db'}", 2.0),
            ("PostgreSQL", server.create_database("chain"), 3.0),
        ):
            step_s, start_s = await per_step(url, work / f"home-{backend}", steps, runs)
            if backend == "SQLite":
                floor = sqlite_commit_floor(work / "floor.db")
                results.append(Result(GROUP, "floor: one SQLite commit, WAL, synchronous=FULL", floor * 1000, "ms"))
                results.append(Result(GROUP, "SQLite per-step overhead / commit floor", step_s / floor, "x"))
            results.append(Result(GROUP, f"per-step overhead, 100-step no-op chain, {backend}", step_s * 1000, "ms",
                                  f"<= {target:g} ms", step_s * 1000 <= target))  # fmt: skip
            results.append(Result(GROUP, f"ratio to plain LangGraph without checkpointer, {backend}",
                                  step_s / plain, "x"))  # fmt: skip
            results.append(Result(GROUP, f"start latency, run call to first step started, {backend} (p50)",
                                  start_s * 1000, "ms", "<= 20 ms", start_s * 1000 <= 20))  # fmt: skip
        results.append(Result(GROUP, "plain LangGraph per step, no checkpointer", plain * 1000, "ms"))
        count = 200 if quick else 1000
        rate = await throughput(server.create_database("throughput"), work / "home-throughput", count, 3)
        results.append(Result(GROUP, f"{count} short executions, 2 workers, PostgreSQL", rate, "steps/s",
                              ">= 300", rate >= 300))  # fmt: skip
        waiting = 200 if quick else 1000
        before, after, done = await waiting_runs(server.create_database("waiting"), work / "home-waiting", waiting)
        results.append(Result(GROUP, f"worker RSS with {waiting} runs waiting on a signal", before, "MiB",
                              "< 300 MiB", before < 300))  # fmt: skip
        results.append(Result(GROUP, f"worker RSS after all {waiting} resumed (all completed: {done})", after, "MiB",
                              "< 300 MiB", after < 300 and done))  # fmt: skip
    finally:
        server.stop()
    return results
