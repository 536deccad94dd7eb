"""The engine: runs claimed executions of compiled workflow graphs, durably.

:class:`Engine` holds what every run shares (database, plugin host, checkpointer, compiled
graphs); :class:`RunContext` is one worker's run of one execution under one lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Connection

from synthral.config import EngineSettings
from synthral.engine import state
from synthral.engine.activity import StepFailed, StepRecord
from synthral.engine.guard import RunGuard
from synthral.engine.model import Workflow
from synthral.errors import ConfigurationError, NonRetryableError, SynthralError
from synthral.plugins.host import PluginHost
from synthral.security.redact import Redactor
from synthral.store.db import Database
from synthral.store.outage import Outage
from synthral.store.tables import STEP, StepStatus, utcnow
from synthral_sdk import HostServices
from synthral_sdk.context import EventSink

if TYPE_CHECKING:
    from synthral.engine.checkpoint import SqlCheckpointSaver

__all__ = ["Engine", "EnvSecretResolver", "PauseRequested", "RunContext", "SecretResolver", "StepServices"]

T = TypeVar("T")

log = logging.getLogger("synthral.engine")

SecretResolver = Callable[[list[str], str | None], Awaitable[dict[str, str]]]
"""``await resolver(names, workspace_id)``: the values of the named secrets granted to a step.

``workspace_id`` is the workspace of the step's workflow; None for a workflow that belongs to
none (local mode).
"""

SecretKinds = Callable[[list[str], str | None], Awaitable[dict[str, str]]]
"""``await kinds(names, workspace_id)``: the kind of each named credential (``api_key``, ``oauth2``...).

A name it does not know is left out; a plugin is refused a credential whose kind its grant
does not name (:func:`synthral.plugins.permissions.check_credential_kinds`).
"""


class StepServices(Protocol):
    """What the host offers a step attempt while it runs: ``context.host`` and an event sink.

    Given to the engine by the host process (``synthral.services.ai.AIServices``): LLM
    completions, agent runs and live events need services the engine does not own.
    """

    def for_step(
        self,
        ctx: RunContext,
        *,
        node_id: str,
        node_type: str,
        config: Mapping[str, Any],
        key: str,
        attempt: int,
        secrets: Mapping[str, str],
        redactor: Redactor,
        timeout: float | None,
    ) -> tuple[HostServices, EventSink]:
        """The host services and the event sink of one attempt."""
        ...


class EnvSecretResolver:
    """Secrets from ``SYNTHRAL_SECRET_<NAME>`` variables, as the settings read them (the local default).

    The server resolves from the workspace's encrypted credentials instead
    (``synthral.services.secrets.CredentialSecretResolver``), falling back to this one for
    workflows that belong to no workspace; a single-user machine needs nothing else.

    Args:
        secrets: ``settings.security.step_secrets``: secret name (lower-case) → value.
    """

    def __init__(self, secrets: Mapping[str, SecretStr]) -> None:
        self.secrets = secrets

    async def __call__(self, names: list[str], workspace_id: str | None = None) -> dict[str, str]:
        """The values of ``names`` (``workspace_id`` is ignored: the environment is the machine's).

        Raises:
            ConfigurationError: A secret is not set.
        """
        del workspace_id
        values = {}
        for name in names:
            key = name.lower().replace("-", "_").replace(".", "_")
            value = self.secrets.get(key)
            if value is None:
                variable = "SYNTHRAL_SECRET_" + key.upper()
                raise ConfigurationError(
                    f"secret {name!r} is not set; export {variable}=... before starting the worker",
                    details={"secret": name},
                )
            values[name] = value.get_secret_value()
        return values


class MaxStepsExceeded(NonRetryableError):
    """The run would take more steps than the workflow's ``settings.max_steps``."""

    code = "max_steps_exceeded"


class RunTimedOut(NonRetryableError):
    """The run took longer than the workflow's ``settings.timeout``."""

    code = "run_timed_out"


class PauseRequested(Exception):
    """Stop the run at this step boundary; it is paused."""


class CancelRequested(Exception):
    """Stop the run; it is cancelled."""


@dataclass
class RunContext:
    """One worker's run of one execution."""

    engine: Engine
    guard: RunGuard
    workflow: Workflow
    workflow_id: str
    workflow_version: int
    plugin_pins: Mapping[str, str]
    execution_input: dict[str, Any]
    started_at: str
    workspace_id: str | None = None
    history: dict[tuple[str, str], StepRecord] = field(default_factory=dict)
    handles: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_id(self) -> str:
        """The run's execution id (LangGraph's thread id)."""
        return self.guard.execution_id

    @property
    def fencing_token(self) -> int:
        """The token of this worker's claim."""
        return self.guard.fencing_token

    @property
    def worker(self) -> str:
        """This worker's id."""
        return self.guard.worker

    def count_step(self, node_id: str) -> None:
        """Count a step (an attempt, or a wait begun) against the workflow's ``max_steps``.

        The count is the run's, over all its claims: it is recorded with every fenced write.

        Raises:
            StepFailed: The run would take more steps than allowed (a loop that does not end).
        """
        limit = self.workflow.settings.max_steps
        if self.guard.steps_taken >= limit:
            raise StepFailed(
                node_id,
                MaxStepsExceeded(
                    f"the run has taken its {limit} steps and node '{node_id}' would take one more; a loop does "
                    "not end, or raise settings.max_steps",
                    details={"max_steps": limit, "node": node_id},
                ),
                0,
            )
        self.guard.steps_taken += 1

    def check_control(self) -> None:
        """Stop at this step boundary if a pause or a cancellation was requested, or time is up.

        Raises:
            RunTimedOut: The run has taken longer than the workflow's ``settings.timeout``.
        """
        if self.guard.cancel_requested:
            raise CancelRequested()
        if self.guard.pause_requested:
            raise PauseRequested()
        limit = self.workflow.settings.timeout
        if limit is not None and self.started_at:
            started = datetime.fromisoformat(self.started_at)
            elapsed = (utcnow() - started).total_seconds()
            if elapsed > limit:
                raise RunTimedOut(
                    f"the run has taken {elapsed:.0f} s, over the workflow's timeout of {limit:g} s; "
                    "raise settings.timeout if it legitimately takes longer",
                    details={"timeout": limit},
                )

    def defer(self, op: Callable[[Connection], object]) -> None:
        """Commit ``op`` with the run's next write (a checkpoint), under the lease."""
        self.guard.defer(op)

    async def write_now(self, op: Callable[[Connection], T]) -> T | None:
        """Commit ``op`` now, with anything deferred, under the lease; return its result."""
        return await self.guard.run(self.engine.database, op)

    def log_now(self, node_id: str | None, level: str, message: str) -> None:
        """Add a line to the run's log from synchronous code (committed with the next write)."""
        self._log(node_id, level, message)

    async def log(self, node_id: str | None, level: str, message: str) -> None:
        """Add a line to the run's log (committed with the next write)."""
        self._log(node_id, level, message)

    def _log(self, node_id: str | None, level: str, message: str) -> None:
        log.log(
            logging.WARNING if level in {"warning", "error"} else logging.INFO,
            "%s %s: %s",
            self.execution_id,
            node_id or "-",
            message,
        )
        row = {
            "execution_id": self.execution_id,
            "node_id": node_id,
            "level": level,
            "message": message[:4000],
            "timestamp": utcnow(),
        }

        self.defer(lambda connection: state.add_log(connection, row))

    async def secrets_for(self, names: list[str]) -> dict[str, str]:
        """The secrets a node is granted, from its workflow's workspace."""
        return await self.engine.secrets(names, self.workspace_id) if names else {}

    async def secret_kinds_for(self, names: list[str]) -> dict[str, str]:
        """The kinds of the credentials a node is granted, where the source knows them."""
        kinds = self.engine.secret_kinds
        return await kinds(names, self.workspace_id) if names and kinds is not None else {}


class Engine:
    """What runs share: the database, the plugin host, the checkpointer and compiled graphs.

    Args:
        database: Where executions, steps and checkpoints live.
        plugins: The plugin host capabilities are resolved from.
        settings: The engine's settings: lease, retry defaults, concurrency.
        worker_id: This process's worker id (default: host name, pid and a random suffix).
        secrets: Resolves the secrets granted to a step (none are, by default).
        secret_kinds: Says what kind each of them is, for the plugins' grants (unchecked when None).
        step_services: What steps may ask of the host (LLM, agents, live events); none when None.
    """

    def __init__(
        self,
        database: Database,
        plugins: PluginHost,
        *,
        settings: EngineSettings | None = None,
        worker_id: str | None = None,
        secrets: SecretResolver | None = None,
        secret_kinds: SecretKinds | None = None,
        step_services: StepServices | None = None,
    ) -> None:
        self.database = database
        self.step_services = step_services
        self.plugins = plugins
        self.blobs = plugins.blobs
        self.settings = settings or EngineSettings()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_seconds = self.settings.lease_seconds
        self.secrets: SecretResolver = secrets or EnvSecretResolver({})
        self.secret_kinds = secret_kinds
        self._saver: SqlCheckpointSaver | None = None
        self.graphs: dict[tuple[str, int], Any] = {}
        self.versions: dict[tuple[str, int], Any] = {}
        self.wakeup = asyncio.Event()
        self.listeners: list[Callable[[], None]] = []
        """Called with every :meth:`notify` (the live-event hub makes its next pass at once)."""
        self.record_listeners: list[Callable[[], None]] = []
        """Called when a run of this process committed history (the live-event hub reads it soon)."""
        self.outage = Outage(log, f"process {self.worker_id}", forget_after=60.0)
        """This process's view of the database: an outage is logged once, by whichever part meets it."""

    @property
    def saver(self) -> SqlCheckpointSaver:
        """LangGraph's checkpointer on this database, made (and LangGraph's runtime imported) on first use.

        Only a process that runs workflows needs it: the API and the scheduler start without it.
        """
        if self._saver is None:
            from synthral.engine.checkpoint import SqlCheckpointSaver  # noqa: PLC0415

            self._saver = SqlCheckpointSaver(self.database)
        return self._saver

    def notify(self) -> None:
        """Wake this process's workers, and whoever listens: something became runnable."""
        self.wakeup.set()
        for listener in self.listeners:
            listener()

    def recorded(self) -> None:
        """A run of this process committed history: tell whoever listens."""
        for listener in self.record_listeners:
            listener()

    async def load_history(self, execution_id: str) -> dict[tuple[str, str], StepRecord]:
        """What earlier runs (or the run a replay copies) recorded, by node and iteration."""
        history: dict[tuple[str, str], StepRecord] = {}
        query = (
            select(
                STEP.c.node_id,
                STEP.c.iteration,
                STEP.c.status,
                STEP.c.output,
                STEP.c.attempt,
                STEP.c.replayed_from,
                STEP.c.error_type,
                STEP.c.error_message,
                STEP.c.retryable,
            )
            .where(STEP.c.execution_id == execution_id)
            .order_by(STEP.c.id)
        )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        for node_id, iteration, status, output, attempt, replayed_from, error_type, message, retryable in rows:
            record = history.setdefault((node_id, iteration), StepRecord())
            record.attempts = max(record.attempts, attempt)
            if status == StepStatus.COMPLETED:
                record.completed = True
                record.output = output
                record.replayed_from = replayed_from
            elif status == StepStatus.WAITING:
                record.extra = dict(output or {})
            elif status == StepStatus.FAILED:
                record.failures += 1
                record.last_error = SynthralError(
                    message or "", error_type=error_type or "Error", retryable=bool(retryable)
                )
        return history


def error_of(exc: BaseException) -> tuple[str, str]:
    """(type, message) to record for a failure."""
    if isinstance(exc, SynthralError):
        return exc.error_type, exc.message
    return type(exc).__name__, str(exc) or type(exc).__name__
