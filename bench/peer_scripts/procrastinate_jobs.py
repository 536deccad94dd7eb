"""procrastinate: N jobs drained by two worker processes (run inside procrastinate's own venv).

Usage: python procrastinate_jobs.py CONNINFO MODE COUNT CONCURRENCY, MODE being ``one`` (one job
doing three no-ops per execution) or ``chain`` (three jobs, each deferring the next). Prints
one JSON line: {"version": ..., "steps": 3*COUNT, "seconds": first job started -> last succeeded}.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import procrastinate
import psycopg

CONNINFO = os.environ.get("PEER_CONNINFO") or (sys.argv[1] if len(sys.argv) > 1 else "")
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=CONNINFO))


def _noop(value: int) -> int:
    return value


@app.task(name="three_noops")
async def three_noops() -> None:
    for index in range(3):
        _noop(index)


@app.task(name="first")
async def first() -> None:
    await second.defer_async()


@app.task(name="second")
async def second() -> None:
    await third.defer_async()


@app.task(name="third")
async def third() -> None:
    _noop(3)


async def defer(mode: str, count: int) -> None:
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task = three_noops if mode == "one" else first
        for _ in range(count):
            await task.defer_async()


def main(mode: str, count: int, concurrency: int) -> None:
    asyncio.run(defer(mode, count))
    expected = count if mode == "one" else 3 * count
    env = {**os.environ, "PEER_CONNINFO": CONNINFO, "PYTHONPATH": str(Path(__file__).parent)}
    command = [sys.executable, "-m", "procrastinate", "--app=procrastinate_jobs.app", "worker",
               f"--concurrency={concurrency}"]  # fmt: skip
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]  # fmt: skip
    try:
        with psycopg.connect(CONNINFO, autocommit=True) as connection:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                row = connection.execute(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
                ).fetchone()
                if row is not None and row[0] >= expected:
                    break
                time.sleep(0.1)
            span = connection.execute(
                "SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')"
                " - min(at) FILTER (WHERE type = 'started')) FROM procrastinate_events"
            ).fetchone()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
    seconds = float(span[0]) if span and span[0] is not None else float("nan")
    print(json.dumps({"version": version("procrastinate"), "steps": 3 * count, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
