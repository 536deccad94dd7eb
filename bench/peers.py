"""Peers side by side (``python -m bench --peers``): DBOS Transact and procrastinate, interleaved.

Each peer is installed into its own throwaway venv from the package index (pinned below,
cached under ``$XDG_CACHE_HOME/synthral/bench-peers``) and driven by a script in
``bench/peer_scripts`` run with that venv's interpreter, so nothing of theirs enters the
project's environment. Every comparison runs in rounds, ours and the peer's alternating
(A, B, B, A, ...), each on a fresh database of the same server; a ratio is taken per round
and reported as the median with its spread.

Every figure of ours here is end to end: from the run call (or, for throughput, the first
step started) to the run's recorded end, commits included. The step-record figure (first
step started to last step finished, leaving the run's final commit out) is a secondary row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import Result
from bench.engine import Stack, _worker_process, noop_chain, wait_done
from synthral.engine.worker import Worker
from tests.support.postgres import PostgresServer

GROUP = "peers"
SCRIPTS = Path(__file__).parent / "peer_scripts"
PINS: dict[str, tuple[str, ...]] = {
    "dbos": ("dbos==3.4.0",),
    "procrastinate": ("procrastinate==3.10.0", "psycopg[binary]==3.3.9"),
}


def peer_python(name: str) -> Path:
    """The interpreter of ``name``'s venv, made on first use from the pins above."""
    pins = PINS[name]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "synthral" / "bench-peers"
    venv = cache / f"{name}-{hashlib.sha256(' '.join(pins).encode()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), *pins], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins], check=True)
    return python


def _peer(name: str, script: str, *args: str) -> dict[str, Any]:
    """Run a peer script in the peer's venv; its last stdout line is its JSON answer."""
    done = subprocess.run(
        [str(peer_python(name)), str(SCRIPTS / script), *args],
        check=False, capture_output=True, text=True, timeout=900, cwd=SCRIPTS,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _libpq(url: str) -> str:
    """A SQLAlchemy asyncpg URL as the libpq URL the peers take."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _when(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


async def ours_per_step(url: str, home: Path, steps: int, runs: int) -> tuple[list[float], list[float]]:
    """Seconds per step of a no-op chain: (end to end per run, step records per run)."""
    async with Stack(url, home) as stack:
        saved = await stack.service.save(noop_chain("chain", steps))
        worker = Worker(stack.engine, concurrency=1, poll_interval=0.05)
        task = asyncio.create_task(worker.run())
        try:
            await wait_done(stack.service, await stack.service.start(saved.workflow_id))  # warm
            end_to_end, records = [], []
            for _ in range(runs):
                called = time.time()
                view = await wait_done(stack.service, await stack.service.start(saved.workflow_id))
                end_to_end.append((_when(view.execution["completed_at"]) - called) / steps)
                first, last = _when(view.steps[0]["started_at"]), _when(view.steps[-1]["finished_at"])
                records.append((last - first) / steps)
        finally:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return end_to_end, records


async def ours_throughput(url: str, home: Path, executions: int) -> float:
    """Steps per second of ``executions`` queued 3-step runs drained by two worker processes.

    From the first step started to the last run's recorded end, like the peer's first job
    started to last job succeeded.
    """
    async with Stack(url, home) as stack:
        saved = await stack.service.save(noop_chain("short", 3))
        for _ in range(executions):
            await stack.service.start(saved.workflow_id)
        workers = [_worker_process(url, home, 25) for _ in range(2)]
        try:
            count = text("SELECT count(*) FROM workflow_execution WHERE status = 'completed'")
            while True:
                async with stack.database.engine.connect() as connection:
                    if int((await connection.execute(count)).scalar_one()) >= executions:
                        break
                await asyncio.sleep(0.1)
            async with stack.database.engine.connect() as connection:
                first = (await connection.execute(text("SELECT min(started_at) FROM step"))).scalar_one()
                last = (await connection.execute(text("SELECT max(completed_at) FROM workflow_execution"))).scalar_one()
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(30)
    return float(executions * 3 / (last - first).total_seconds())


def _spread(name: str, ratios: list[float], unit: str, target: str, ok: bool | None, **extra: object) -> Result:
    return Result(
        GROUP, name, statistics.median(ratios), unit, target, ok,
        {"rounds": ratios, "min": min(ratios), "max": max(ratios), **extra},
    )  # fmt: skip


def _urls(backend: str, server: PostgresServer, work: Path, tag: str) -> tuple[str, str]:
    """Fresh databases for ours and DBOS in one round."""
    if backend == "SQLite":
        return f"sqlite+aiosqlite:///{work / f'ours-{tag}.db'}", f"sqlite:///{work / f'dbos-{tag}.db'}"
    return server.create_database(f"ours_{tag}"), _libpq(server.create_database(f"dbos_{tag}"))


async def chain_rounds(backend: str, server: PostgresServer, work: Path, runs: int, rounds: int) -> list[Result]:
    """Ours and DBOS on a 100-step chain, alternating who goes first each round."""
    steps = 100
    ours_e2e: list[float] = []
    ours_records: list[float] = []
    theirs: list[float] = []
    ratios: list[float] = []
    for index in range(rounds):
        tag = f"{backend.lower()}{index}"
        our_url, peer_url = _urls(backend, server, work, tag)
        if index % 2:
            figures = _peer("dbos", "dbos_chain.py", peer_url, str(steps), str(runs))["seconds_per_step"]
            e2e, records = await ours_per_step(our_url, work / f"home-{tag}", steps, runs)
        else:
            e2e, records = await ours_per_step(our_url, work / f"home-{tag}", steps, runs)
            figures = _peer("dbos", "dbos_chain.py", peer_url, str(steps), str(runs))["seconds_per_step"]
        ours_e2e += e2e
        ours_records += records
        theirs += figures
        ratios.append(statistics.median(e2e) / statistics.median(figures))
    version = " ".join(PINS["dbos"])
    return [
        Result(GROUP, f"ours per step, 100-step chain, end to end, {backend}", statistics.median(ours_e2e) * 1000,
               "ms"),
        Result(GROUP, f"DBOS per step, same chain, end to end, {backend}", statistics.median(theirs) * 1000, "ms",
               extra={"version": version}),
        _spread(f"ours / DBOS per step, {backend} (median of {rounds} rounds)", ratios, "x", "<= 0.5",
                statistics.median(ratios) <= 0.5, version=version),
        Result(GROUP, f"secondary: ours per step from step records, {backend}",
               statistics.median(ours_records) * 1000, "ms"),
    ]  # fmt: skip


def _procrastinate(server: PostgresServer, mode: str, index: int, executions: int) -> float:
    url = _libpq(server.create_database(f"tp_{mode}_{index}"))
    answer = _peer("procrastinate", "procrastinate_jobs.py", url, mode, str(executions), "25")
    return float(answer["steps"]) / float(answer["seconds"])


async def throughput_rounds(server: PostgresServer, work: Path, executions: int, rounds: int) -> list[Result]:
    """Ours against procrastinate's two shapes of the same work, alternating who goes first."""
    mine: list[float] = []
    one: list[float] = []
    chained: list[float] = []
    for index in range(rounds):
        if index % 2:
            one.append(_procrastinate(server, "one", index, executions))
            chained.append(_procrastinate(server, "chain", index, executions))
        url = server.create_database(f"tp_ours_{index}")
        mine.append(await ours_throughput(url, work / f"home-tp-{index}", executions))
        if not index % 2:
            one.append(_procrastinate(server, "one", index, executions))
            chained.append(_procrastinate(server, "chain", index, executions))
    version = " ".join(PINS["procrastinate"])
    label = f"{executions} executions x 3 steps, 2 workers, PostgreSQL"
    to_one = [m / o for m, o in zip(mine, one, strict=True)]
    to_chained = [m / c for m, c in zip(mine, chained, strict=True)]
    return [
        Result(GROUP, f"ours, {label}", statistics.median(mine), "steps/s"),
        Result(GROUP, f"procrastinate, one job doing three no-ops, {label}", statistics.median(one), "steps/s",
               extra={"version": version}),
        Result(GROUP, f"procrastinate, three chained jobs, {label}", statistics.median(chained), "steps/s",
               extra={"version": version}),
        _spread("ours / procrastinate one-job throughput", to_one, "x", ">= 1.0", statistics.median(to_one) >= 1.0,
                version=version),
        _spread("ours / procrastinate chained-jobs throughput", to_chained, "x", "", None, version=version),
    ]  # fmt: skip


async def run(quick: bool = False) -> list[Result]:
    """Run the group: three interleaved rounds of each comparison."""
    rounds, runs, executions = 3, (2 if quick else 5), (200 if quick else 1000)
    work = Path(tempfile.mkdtemp(prefix="synthral-bench-peers-"))
    results: list[Result] = []
    server = PostgresServer.start()
    try:
        for backend in ("SQLite", "PostgreSQL"):
            results += await chain_rounds(backend, server, work, runs, rounds)
        results += await throughput_rounds(server, work, executions, rounds)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    for result in results:
        result.extra["load_average"] = load
    return results
