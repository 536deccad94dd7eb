"""Timers, signals, human input, pause/resume/cancel, replay, sub-workflows, error workflows, map."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

import pytest

from synthral.errors import ConfigurationError, InputInvalid
from synthral.store.tables import ExecutionStatus
from tests.support.engine import Harness, Sink, chain

pytestmark = pytest.mark.slow


async def test_a_durable_timer_suspends_the_run_and_never_fires_early(harness: Harness) -> None:
    workflow = chain(
        "timer",
        {"id": "before", "type": "core/set", "config": {"values": {"x": 1}}},
        {"id": "pause", "type": "core/wait", "config": {"seconds": 1.5}},
        {"id": "after", "type": "core/set", "config": {"values": {"y": 2}}},
    )
    execution_id = await harness.run(workflow)
    waiting = await harness.wait(execution_id, ExecutionStatus.WAITING)
    assert waiting.execution["waiting_for"]["kind"] == "timer"
    for _ in range(50):  # the worker lets go of a waiting run: it holds no worker slot
        if (await harness.service.execution(execution_id)).execution["lease_owner"] is None:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the worker kept the lease of a waiting run")
    done = await harness.wait(execution_id)
    assert done.status == ExecutionStatus.COMPLETED
    timer = next(s for s in done.steps if s["node_id"] == "pause")
    fired = datetime.fromisoformat(timer["output"]["fired_at"])
    scheduled = datetime.fromisoformat(timer["output"]["scheduled_for"])
    assert fired >= scheduled
    assert done.execution["output"] == {"after": {"data": {"x": 1, "y": 2}}}


APPROVAL = {
    "name": "approval",
    "nodes": [
        {"id": "ask", "type": "engine/human_input", "config": {
            "prompt": "Approve the refund?",
            "form": {"type": "object", "required": ["approved"], "properties": {"approved": {"type": "boolean"}}},
        }},
        {"id": "record", "type": "core/set", "input": {"data": {"approved": "{{ nodes.ask.output.answer.approved }}"}}},
    ],
    "edges": [{"source": "ask", "target": "record"}],
}  # fmt: skip


async def test_human_input_waits_for_a_valid_answer_delivered_exactly_once(harness: Harness) -> None:
    execution_id = await harness.run(APPROVAL)
    waiting = await harness.wait(execution_id, ExecutionStatus.WAITING)
    assert waiting.execution["waiting_for"]["node"] == "ask"
    with pytest.raises(InputInvalid, match="approved"):
        await harness.service.signal(execution_id, signal_type="human_input", data={"answer": {"approved": "maybe"}})
    answer = {"answer": {"approved": True}, "answered_by": "ada"}
    first = await harness.service.signal(execution_id, signal_type="human_input", data=answer, dedupe_key="form-1")
    second = await harness.service.signal(execution_id, signal_type="human_input", data=answer, dedupe_key="form-1")
    assert (first, second) == (True, False)
    done = await harness.wait(execution_id)
    assert done.status == ExecutionStatus.COMPLETED, done.execution
    assert done.execution["output"] == {"record": {"data": {"approved": True}}}
    ask = [s for s in done.steps if s["node_id"] == "ask"]
    assert len(ask) == 1 and ask[0]["output"]["answered_by"] == "ada"


async def test_a_signal_sent_twice_at_once_is_consumed_once(harness: Harness) -> None:
    workflow = chain(
        "signals",
        {"id": "hold", "type": "engine/wait_signal", "config": {"signal": "go"}},
        {"id": "after", "type": "noop/echo", "input": {"value": "{{ nodes.hold.output.data.n }}"}},
    )
    execution_id = await harness.run(workflow)
    await harness.wait(execution_id, ExecutionStatus.WAITING)
    results = await asyncio.gather(*(
        harness.service.signal(execution_id, name="go", data={"n": 1}, dedupe_key="delivery-7") for _ in range(10)
    ))  # fmt: skip
    assert results.count(True) == 1
    done = await harness.wait(execution_id)
    assert done.execution["output"]["after"]["value"] == 1
    assert [s["node_id"] for s in done.steps].count("after") == 1


async def test_pause_resume_and_cancel(harness: Harness) -> None:
    workflow = chain(
        "controlled",
        {"id": "one", "type": "noop/async-sleep", "input": {"seconds": 0.5}},
        {"id": "two", "type": "core/set"},
        {"id": "three", "type": "noop/async-sleep", "input": {"seconds": 0.1}},
    )
    execution_id = await harness.run(workflow)
    await harness.wait(execution_id, ExecutionStatus.RUNNING)
    await harness.service.pause(execution_id)
    paused = await harness.wait(execution_id, ExecutionStatus.PAUSED)
    completed = [s["node_id"] for s in paused.steps if s["status"] == "completed"]
    assert "three" not in completed  # paused at a step boundary, before 'three' did anything
    await harness.service.resume(execution_id)
    done = await harness.wait(execution_id)
    assert done.status == ExecutionStatus.COMPLETED
    ones = [s["status"] for s in done.steps if s["node_id"] == "one"]
    # Completed steps never run again. If the pause landed before 'one' reached its plugin, that
    # attempt is recorded as cancelled and the resumed run makes the next one.
    assert ones.count("completed") == 1
    assert set(ones) <= {"completed", "cancelled"}

    stuck = await harness.run(chain("to-cancel", {"id": "long", "type": "noop/async-sleep", "input": {"seconds": 30}}))
    await harness.wait(stuck, ExecutionStatus.RUNNING)
    await asyncio.sleep(0.3)
    await harness.service.cancel(stuck)
    cancelled = await harness.wait(stuck, timeout=15)
    assert cancelled.status == ExecutionStatus.CANCELLED
    with pytest.raises(ConfigurationError, match="cancelled already"):
        await harness.service.cancel(stuck)


async def test_a_pause_that_lands_before_the_first_step_reaches_out(harness: Harness) -> None:
    workflow = chain(
        "paused-early",
        {"id": "one", "type": "noop/async-sleep", "input": {"seconds": 0.05}},
        {"id": "two", "type": "core/set"},
    )
    execution_id = await harness.run(workflow)
    await harness.service.pause(execution_id)
    paused = await harness.wait(execution_id, ExecutionStatus.PAUSED, ExecutionStatus.COMPLETED)
    if paused.status == ExecutionStatus.PAUSED:
        await harness.service.resume(execution_id)
    done = await harness.wait(execution_id)
    assert done.status == ExecutionStatus.COMPLETED
    ones = [s["status"] for s in done.steps if s["node_id"] == "one"]
    assert ones.count("completed") == 1 and set(ones) <= {"completed", "cancelled"}


async def test_replay_from_the_failed_step_reuses_what_succeeded(harness: Harness, sink: Sink) -> None:
    workflow = chain(
        "replayed",
        {"id": "pay", "type": "noop/effect", "input": {"url": sink.url}},
        {"id": "notify", "type": "noop/flaky", "retry": {"max_attempts": 1}},
    )
    failed = await harness.wait(await harness.run(workflow))
    assert failed.status == ExecutionStatus.FAILED and failed.execution["error_node"] == "notify"
    fixed = chain(
        "replayed",
        {"id": "pay", "type": "noop/effect", "input": {"url": sink.url}},
        {"id": "notify", "type": "core/set", "config": {"values": {"sent": True}}},
    )
    await harness.save(fixed)
    original_version = await harness.service.replay(failed.execution["id"])
    again = await harness.wait(original_version)
    assert again.status == ExecutionStatus.FAILED  # the original version still has the flaky step
    on_latest = await harness.wait(await harness.service.replay(failed.execution["id"], latest=True))
    assert on_latest.status == ExecutionStatus.COMPLETED, on_latest.execution
    pay = next(s for s in on_latest.steps if s["node_id"] == "pay")
    assert pay["replayed_from"] == failed.execution["id"]
    assert len(sink.attempts) == 1  # the payment ran once across three runs
    rerun = await harness.wait(await harness.service.replay(on_latest.execution["id"], from_node="pay"))
    assert rerun.status == ExecutionStatus.COMPLETED
    assert len(sink.attempts) == 2  # re-run from 'pay' on purpose: it ran again, with a new key
    with pytest.raises(ConfigurationError, match="its nodes are"):
        await harness.service.replay(on_latest.execution["id"], from_node="nope")


async def test_subworkflow_and_error_workflow(harness: Harness) -> None:
    await harness.save(
        chain("child", {"id": "double", "type": "core/set", "input": {"data": {"n": "{{ trigger.n * 2 }}"}}})
    )
    await harness.save(chain("on-error", {"id": "note", "type": "core/set", "input": {"data": "{{ trigger }}"}}))
    parent = chain(
        "parent",
        {"id": "call", "type": "engine/subworkflow", "config": {"workflow": "child"}, "input": {"n": 21}},
        {"id": "use", "type": "core/set", "input": {"data": {"n": "{{ nodes.call.output.output.double.data.n }}"}}},
    )
    view = await harness.wait(await harness.run(parent))
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"] == {"use": {"data": {"n": 42}}}
    children = await harness.service.executions(workflow="child")
    assert len(children) == 1 and children[0]["parent_execution_id"] == view.execution["id"]

    failing = chain("fails", {"id": "boom", "type": "noop/broken", "retry": {"max_attempts": 1}},
                    settings={"error_workflow": "on-error"})  # fmt: skip
    failed = await harness.wait(await harness.run(failing))
    assert failed.status == ExecutionStatus.FAILED
    for _ in range(100):
        handled = await harness.service.executions(workflow="on-error")
        if handled and handled[0]["status"] == ExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.1)
    note = handled[0]["output"]["note"]["data"]
    assert note["execution_id"] == failed.execution["id"] and note["node"] == "boom"
    assert note["error"]["type"] == "ValueError"


async def test_map_runs_a_capability_per_item_and_collects(harness: Harness) -> None:
    workflow = chain(
        "mapped",
        {"id": "each", "type": "engine/map", "input": {"items": "{{ trigger.cities }}"},
         "config": {"type": "noop/whoami", "input": {"value": "{{ index }}:{{ item }}"}, "concurrency": 2}},
    )  # fmt: skip
    execution_id = await harness.run(workflow, {"cities": ["Lyon", "Oslo", "Lima"]})
    view = await harness.wait(execution_id)
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    results = view.execution["output"]["each"]["results"]
    assert [r["value"]["input"] for r in results] == ["0:Lyon", "1:Oslo", "2:Lima"]
    assert [r["value"]["idempotency_key"] for r in results] == [f"{execution_id}/each/0:{i}" for i in range(3)]


async def test_a_poison_step_that_crashes_its_plugin_backs_off_then_fails(harness: Harness) -> None:
    workflow = chain(
        "poison",
        {"id": "boom", "type": "noop/crash",
         "retry": {"max_attempts": 4, "initial_interval": 0.2, "backoff_coefficient": 2, "max_interval": 0.5}},
    )  # fmt: skip
    view = await harness.wait(await harness.run(workflow), timeout=90)
    assert view.status == ExecutionStatus.FAILED
    assert view.execution["error_type"] == "PluginCrashed"
    attempts = [s for s in view.steps if s["node_id"] == "boom"]
    assert [s["attempt"] for s in attempts] == [1, 2, 3, 4]  # capped: no busy loop
    starts = [datetime.fromisoformat(s["started_at"]) for s in attempts]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert [gap >= wait for gap, wait in zip(gaps, (0.2, 0.4, 0.5), strict=True)] == [True, True, True]
    # The host survived its plugin crashing four times and still runs it.
    healthy = await harness.wait(await harness.run(chain("healthy", {"id": "ok", "type": "noop/echo"})))
    assert healthy.status == ExecutionStatus.COMPLETED


async def test_start_by_signal_starts_one_run_per_dedupe_key(harness: Harness) -> None:
    workflow = chain("on-order", {"id": "note", "type": "core/set", "input": {"data": "{{ trigger }}"}},
                     triggers=[{"type": "signal", "signal": "order.created"}])  # fmt: skip
    await harness.save(workflow)
    first = await harness.service.start_by_signal("on-order", "order.created", {"order": 7}, "delivery-1")
    again = await harness.service.start_by_signal("on-order", "order.created", {"order": 7}, "delivery-1")
    other = await harness.service.start_by_signal("on-order", "order.created", {"order": 8}, "delivery-2")
    assert first == again and other != first
    done = await harness.wait(first)
    assert done.execution["output"] == {"note": {"data": {"order": 7}}} and done.execution["trigger"] == "signal"
    with pytest.raises(ConfigurationError, match="no signal trigger"):
        await harness.service.start_by_signal("on-order", "order.cancelled", {}, "x")
