"""Crash recovery with real worker processes: SIGKILL, SIGSTOP past the lease, chaos."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.support.engine import Sink, chain
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow

LEASE = "1.5"


class Workers:
    """Worker processes (``synthral worker``) on the test's database."""

    def __init__(self, database: Database, home: Path, wheelhouse: Path, log_dir: Path) -> None:
        self.env = {
            **os.environ,
            "SYNTHRAL_HOME": str(home),
            "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
            "SYNTHRAL_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
            "WORKFLOW_LEASE_SECONDS": LEASE,
        }
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 10) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "synthral", "worker", "--concurrency", str(concurrency)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait()


@pytest.fixture
async def service(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[WorkflowService]:
    """The service, with no worker in this process: worker processes do the work."""
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    yield WorkflowService(database, plugins, Engine(database, plugins))
    await plugins.close()


@pytest.fixture
def workers(database: Database, noop_home: Path, wheelhouse: Path, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(database, noop_home, wheelhouse, tmp_path)
    yield pool
    pool.stop_all()


async def wait_for(service: WorkflowService, execution_id: str, check: Any, timeout: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        view = await service.execution(execution_id)
        if check(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out; execution is {view.status}: {view.steps}")


def three_effects(sink: Sink, middle_seconds: float) -> dict[str, Any]:
    return chain(
        "payments",
        {"id": "reserve", "type": "noop/effect", "input": {"url": sink.url, "seconds": 0.05}},
        {"id": "charge", "type": "noop/effect", "input": {"url": sink.url, "seconds": middle_seconds}},
        {"id": "receipt", "type": "noop/effect", "input": {"url": sink.url, "seconds": 0.05}},
    )


def running(node_id: str) -> Any:
    return lambda view: any(s["node_id"] == node_id and s["status"] == "running" for s in view.steps)


async def test_a_worker_killed_mid_step_is_recovered_without_repeating_completed_steps(
    service: WorkflowService, workers: Workers, sink: Sink
) -> None:
    saved = await service.save(Workflow.model_validate(three_effects(sink, middle_seconds=2.0)))
    first = workers.start()
    execution_id = await service.start(saved.workflow_id)
    await wait_for(service, execution_id, running("charge"))
    first.kill()  # SIGKILL while 'charge' runs
    first.wait()
    workers.start()
    view = await wait_for(service, execution_id, lambda v: v.status in ExecutionStatus.TERMINAL)
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    by_node: dict[str, list[tuple[int, str]]] = {}
    for step in view.steps:
        by_node.setdefault(step["node_id"], []).append((step["attempt"], step["status"]))
    assert by_node["reserve"] == [(1, "completed")]  # never ran again
    # The cut-short attempt is in the history, closed as abandoned with the worker that held it.
    assert by_node["charge"] == [(1, "abandoned"), (2, "completed")]
    cut_short, redone = (s for s in view.steps if s["node_id"] == "charge")
    assert cut_short["worker"] != redone["worker"] and cut_short["error_type"] == "WorkerLost"
    assert by_node["receipt"] == [(1, "completed")]
    assert sorted(sink.effects) == sorted(f"{execution_id}/{n}/0" for n in ("reserve", "charge", "receipt"))
    assert [key for key, _ in sink.attempts].count(f"{execution_id}/reserve/0") == 1


async def test_a_stalled_worker_is_replaced_and_its_late_result_rejected(
    service: WorkflowService, workers: Workers, sink: Sink
) -> None:
    saved = await service.save(Workflow.model_validate(three_effects(sink, middle_seconds=3.0)))
    stalled = workers.start()
    execution_id = await service.start(saved.workflow_id)
    await wait_for(service, execution_id, running("charge"))
    os.kill(stalled.pid, signal.SIGSTOP)  # frozen past its lease; its plugin call still finishes
    workers.start()
    view = await wait_for(service, execution_id, lambda v: v.status in ExecutionStatus.TERMINAL)
    assert view.status == ExecutionStatus.COMPLETED
    os.kill(stalled.pid, signal.SIGCONT)
    await asyncio.sleep(2.0)  # the stalled worker wakes up and tries to record its result
    after = await service.execution(execution_id)
    assert after.status == ExecutionStatus.COMPLETED
    charge = [(s["attempt"], s["status"], s["fencing_token"]) for s in after.steps if s["node_id"] == "charge"]
    assert charge[0][:2] == (1, "abandoned") and charge[0][2] == 1  # the stalled attempt: never completed
    assert charge[1][:2] == (2, "completed") and charge[1][2] == 2  # the new lease holder's attempt
    assert len(after.steps) == len(view.steps)  # nothing written after the takeover
    log = (workers.log_dir / "worker-0.log").read_text()
    assert "lease lost" in log


async def test_chaos_fifty_runs_survive_twenty_kills_with_exactly_once_effects(
    service: WorkflowService, workers: Workers, sink: Sink
) -> None:
    steps = [
        {
            "id": f"s{i}",
            "type": "noop/effect",
            "input": {"url": sink.url, "seconds": random.Random(i).uniform(0.01, 0.15)},
        }
        for i in range(10)
    ]
    saved = await service.save(Workflow.model_validate(chain("chaos", *steps)))
    worker = workers.start(concurrency=25)
    ids = [await service.start(saved.workflow_id, {"n": n}) for n in range(50)]
    chance = random.Random(7)
    for _ in range(20):
        await asyncio.sleep(chance.uniform(0.2, 1.2))
        worker.kill()
        worker.wait()
        worker = workers.start(concurrency=25)
    for execution_id in ids:
        view = await wait_for(service, execution_id, lambda v: v.status in ExecutionStatus.TERMINAL, timeout=240)
        assert view.status == ExecutionStatus.COMPLETED, view.execution
        recorded = {(s["idempotency_key"], s["attempt"]) for s in view.steps}
        assert not [s for s in view.steps if s["status"] == "running"]  # no attempt left open in a finished run
        completed = [s["node_id"] for s in view.steps if s["status"] == "completed"]
        if sorted(completed) != sorted(f"s{i}" for i in range(10)):
            Path("/tmp/chaos_debug.txt").write_text(
                repr(view.execution) + "\n" + "\n".join(repr(s) for s in view.steps)
            )
        assert sorted(completed) == sorted(f"s{i}" for i in range(10)), [
            (s["node_id"], s["attempt"], s["status"], s["fencing_token"], s["worker"]) for s in view.steps
        ] + [view.execution["fencing_token"]]  # each step completed exactly once
        for i in range(10):
            key = f"{execution_id}/s{i}/0"
            assert key in sink.effects  # the effect exists (the sink dedupes by key)
            for attempt in [a for k, a in sink.attempts if k == key]:
                assert (key, attempt) in recorded  # every attempt that reached the sink is in the history
    assert len(sink.effects) == 500


async def test_a_timer_survives_a_worker_restart_and_fires_once_never_early(
    service: WorkflowService, workers: Workers, sink: Sink
) -> None:
    workflow = chain(
        "timed",
        {"id": "before", "type": "noop/effect", "input": {"url": sink.url}},
        {"id": "hold", "type": "core/wait", "config": {"seconds": 4}},
        {"id": "after", "type": "noop/effect", "input": {"url": sink.url}},
    )
    saved = await service.save(Workflow.model_validate(workflow))
    first = workers.start()
    execution_id = await service.start(saved.workflow_id)
    waiting = await wait_for(service, execution_id, lambda v: v.status == ExecutionStatus.WAITING)
    fire_at = waiting.execution["waiting_for"]["fire_at"]
    first.kill()  # the only worker dies while the run waits on its timer
    first.wait()
    await asyncio.sleep(1.0)
    workers.start()
    done = await wait_for(service, execution_id, lambda v: v.status in ExecutionStatus.TERMINAL)
    assert done.status == ExecutionStatus.COMPLETED
    timer = [s for s in done.steps if s["node_id"] == "hold"]
    assert len(timer) == 1 and timer[0]["output"]["scheduled_for"] == fire_at
    assert timer[0]["output"]["fired_at"] >= fire_at  # never early
    assert sorted(sink.effects) == sorted(f"{execution_id}/{n}/0" for n in ("before", "after"))
    assert [key for key, _ in sink.attempts] == [f"{execution_id}/before/0", f"{execution_id}/after/0"]
