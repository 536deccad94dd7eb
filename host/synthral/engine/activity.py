"""Steps as activities: one recorded attempt at a time, retried by policy, never re-run once done.

A step's identity is its idempotency key ``execution/node/iteration``; every attempt of it
gets a row in ``step``. A step recorded as completed (by an earlier run that crashed before
its checkpoint, or by the run a replay copies) returns its recorded output without calling
anything. A step calling a plugin records its attempt as *running* before the call, so an
attempt cut short by a crash is still in the history; its completion is committed with the
checkpoint write that follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.engine.guard import PendingOp
from synthral.engine.retry import EffectivePolicy
from synthral.errors import Cancelled, DatabaseUnavailable, PluginError, SynthralError
from synthral.observability import hooks as observe
from synthral.plugins.sandbox import blob_digests
from synthral.security.redact import Redactor
from synthral.store.blob_tables import grant_blobs
from synthral.store.tables import StepStatus, utcnow
from synthral_sdk import BlobRef

if TYPE_CHECKING:
    from synthral.engine.runtime import RunContext

__all__ = ["INLINE_OUTPUT_LIMIT", "StepFailed", "StepRecord", "run_step"]

INLINE_OUTPUT_LIMIT = 256 * 1024
"""Outputs larger than this (as JSON) go to the blob store; the step row and state keep the reference."""
_BLOB_KEY = b'"$blob"'
FRESH_SLACK = 0.0
"""Seconds before an attempt began that a blob's write time may lie and still count as the step's.

None: a blob written before the attempt could be another workspace's stored a moment earlier.
The blob store's filesystem must keep sub-second times (every current Linux one does)."""


class StepFailed(Exception):
    """A step failed for good (attempts exhausted or a non-retryable error)."""

    def __init__(self, node_id: str, error: SynthralError, attempts: int) -> None:
        super().__init__(f"node '{node_id}' failed after {attempts} attempt(s): {error.message}")
        self.node_id = node_id
        self.error = error
        self.attempts = attempts


@dataclass
class StepRecord:
    """What the history says about one step (by node and iteration).

    Attributes:
        attempts: The highest attempt number recorded (abandoned attempts included).
        failures: Attempts that failed with the step's own error: what its retry policy counts.
            An attempt cut short by a crash or a database outage is not one.
        last_error: The error of the last failed attempt.
        output: The recorded output, once completed.
        completed: Whether an attempt completed.
        replayed_from: The run whose recorded output a replay reuses.
        extra: What a waiting step recorded (a timer's deadline, a child's id).
    """

    attempts: int = 0
    failures: int = 0
    last_error: SynthralError | None = None
    output: Any = None
    completed: bool = False
    replayed_from: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _nothing(connection: Connection) -> None:
    del connection


def pack_output(ctx: RunContext, output: Any) -> Any:
    """Keep small outputs inline; store large ones as a blob and return the reference."""
    return _pack(ctx, output)[0]


def _pack(ctx: RunContext, output: Any) -> tuple[Any, set[str]]:
    """The stored form of ``output`` and the digests of the blobs it refers to (the packed one included).

    Only an output whose JSON holds the key ``"$blob"`` is walked: most outputs hold no file,
    and the search costs little next to the serialization the output needs anyway.
    """
    data = orjson.dumps(output)
    digests = {f"sha256:{digest}" for digest in blob_digests(output)} if _BLOB_KEY in data else set()
    if len(data) <= INLINE_OUTPUT_LIMIT:
        return output, digests
    ref = ctx.engine.blobs.put(data, media_type="application/json", name="output.json")
    return {"$output": ref.to_json()}, digests | {ref.digest}


def _provable(ctx: RunContext, digests: set[str], stored: Any, attempt: _Attempt) -> set[str]:
    """The blobs of a step's output its workspace may be granted: those the step made.

    A reference in an output proves nothing by itself: a plugin may copy one out of outside
    data (an HTTP response, a record in a SaaS), and a template may build one, naming a blob
    of another workspace. So only these are granted: the engine's own blob of a large output,
    and blobs written (or stored again) while the step ran, which only whoever had their bytes
    can do. References the workspace holds already need nothing; the rest stay in the output
    but name nothing the workspace may use (the next plugin is not handed them, the run page
    does not show them).
    """
    if not digests or ctx.workspace_id is None:
        return set()
    packed = stored["$output"].get("$blob") if isinstance(stored, dict) and "$output" in stored else None
    since = attempt.started.timestamp() - FRESH_SLACK
    kept: set[str] = set()
    for digest in digests:
        if digest == packed:
            kept.add(digest)
            continue
        try:
            path = ctx.engine.blobs.path(BlobRef.model_validate({"$blob": digest, "size": 0}))
            if path.stat().st_mtime >= since:
                kept.add(digest)
        except (OSError, ValueError):
            continue
    return kept


def unpack_output(ctx: RunContext, stored: Any) -> Any:
    """The output a stored value stands for (loading it from the blob store if needed)."""
    if isinstance(stored, dict) and set(stored) == {"$output"} and isinstance(stored["$output"], dict):
        ref = BlobRef.model_validate(stored["$output"])
        return orjson.loads(ctx.engine.blobs.get(ref))
    return stored


@dataclass
class _Attempt:
    """One attempt of a step, as recorded in ``step``."""

    ctx: RunContext
    node_id: str
    node_type: str
    iteration: str
    number: int
    key: str
    step_input: dict[str, Any]
    started: datetime = field(default_factory=utcnow)
    clock: float = field(default_factory=time.perf_counter)
    row_id: int | None = None

    def insert_running(self, connection: Connection) -> None:
        """Record the attempt as running, before it reaches outside."""
        self.row_id = state.begin_attempt(connection, self._identity())

    def end(
        self, status: str, *, output: Any = None, error: SynthralError | None = None, blobs: Collection[str] = ()
    ) -> PendingOp:
        """The write that records how the attempt ended (bound now, run later).

        ``blobs`` (digests the output refers to) are granted to the run's workspace in the same
        write, so a later run of the workspace may be handed the files this step made.
        """
        values: dict[str, Any] = {
            "status": status,
            "output": output,
            "finished_at": utcnow(),
            "duration_ms": (time.perf_counter() - self.clock) * 1000,
            "error_type": error.error_type if error else None,
            "error_message": error.message if error else None,
            "error_details": (error.details or None) if error else None,  # masked with the error
            "retryable": error.retryable if error else None,
        }

        workspace_id = self.ctx.workspace_id

        def write(connection: Connection) -> None:
            if self.row_id is not None:
                state.end_attempt(connection, self.row_id, values)
            else:
                state.record_attempt(connection, self._identity(), values)
            if blobs and workspace_id is not None:
                grant_blobs(connection, workspace_id, blobs)

        return write

    def _identity(self) -> dict[str, Any]:
        return {
            "execution_id": self.ctx.execution_id,
            "node_id": self.node_id,
            "node_type": self.node_type,
            "iteration": self.iteration,
            "attempt": self.number,
            "idempotency_key": self.key,
            "input": self.step_input,
            "started_at": self.started,
            "worker": self.ctx.worker,
            "fencing_token": self.ctx.fencing_token,
        }


async def run_step(
    ctx: RunContext,
    *,
    node_id: str,
    node_type: str,
    iteration: str,
    policy: EffectivePolicy,
    step_input: dict[str, Any],
    call: Callable[[int, str], Awaitable[Any]],
    durable_start: bool,
    timeout: float | None = None,
    redactor: Redactor | None = None,
) -> Any:
    """Run one step to completion (retrying by ``policy``) and return its output.

    Args:
        ctx: The run.
        node_id: The step's node.
        node_type: The node's type, for the history.
        iteration: Which run of the node this is (loops, map items).
        policy: Its retry policy.
        step_input: The rendered input, recorded with each attempt.
        call: Does the work: ``call(attempt, idempotency_key)``.
        durable_start: Record the attempt as running before calling (for side effects outside).
        timeout: Seconds per attempt.
        redactor: Masks the secrets granted to the call in its output and errors before they
            are recorded or passed on; the step's output is the masked one.

    Raises:
        StepFailed: Attempts exhausted, or an error the policy does not retry.
    """
    key = f"{ctx.execution_id}/{node_id}/{iteration}"
    record = ctx.history.get((node_id, iteration))
    if record is not None and record.completed:
        return unpack_output(ctx, record.output)
    number = (record.attempts if record is not None else 0) + 1
    failures = record.failures if record is not None else 0
    if record is not None and record.last_error is not None and not policy.should_retry(record.last_error, failures):
        # The step had failed for good when the run was interrupted before recording it.
        raise StepFailed(node_id, record.last_error, failures)
    while True:
        ctx.count_step(node_id)
        attempt = _Attempt(ctx, node_id, node_type, iteration, number, key, step_input)
        if durable_start:
            await ctx.write_now(attempt.insert_running)
            try:
                ctx.check_control()  # the write just read back the pause/cancel flags
            except BaseException:
                await ctx.write_now(attempt.end(StepStatus.CANCELLED))
                raise
        try:
            with observe.step_attempt(node_id, node_type, number):
                output = await (
                    asyncio.wait_for(call(number, key), timeout) if timeout is not None else call(number, key)
                )
        except TimeoutError:
            error: SynthralError = PluginError(
                f"node '{node_id}' did not finish within its {timeout:g} s timeout",
                error_type="StepTimeout",
                retryable=True,
            )
        except DatabaseUnavailable:
            raise  # the database failed under the call (a plugin asked the host): an interruption, not a failure
        except SynthralError as exc:
            error = redactor.error(exc) if redactor is not None else exc
        except (asyncio.CancelledError, Cancelled):
            with contextlib.suppress(Exception):  # the lease may be gone; the cancellation matters more
                await ctx.write_now(attempt.end(StepStatus.CANCELLED))
            raise
        else:
            if redactor is not None:
                output = redactor.value(output)
            stored, blobs = _pack(ctx, output)
            ctx.defer(attempt.end(StepStatus.COMPLETED, output=stored, blobs=_provable(ctx, blobs, stored, attempt)))
            ctx.history[(node_id, iteration)] = StepRecord(
                attempts=number, failures=failures, output=stored, completed=True
            )
            if ctx.guard.behind():
                # Steps that never suspend (no-ops, templates) outrun their records: the write
                # thread waits for the interpreter while the loop stays busy. Commit what is
                # queued before going on, so the history (and the live view) trails the run by
                # a few steps at most.
                await ctx.write_now(_nothing)
            return output
        await ctx.write_now(attempt.end(StepStatus.FAILED, error=error))
        failures += 1
        ctx.history[(node_id, iteration)] = StepRecord(attempts=number, failures=failures, last_error=error)
        if not policy.should_retry(error, failures):
            raise StepFailed(node_id, error, failures)
        delay = policy.delay(failures)
        await ctx.log(
            node_id,
            "warning",
            f"attempt {number} failed ({error.error_type}: {error.message}); retrying in {delay:g} s",
        )
        await asyncio.sleep(delay)
        ctx.guard.retry_count += 1
        observe.step_retried(node_type)
        number += 1
