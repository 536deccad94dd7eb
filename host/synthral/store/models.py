"""The tables (PRD models), shared by SQLite and PostgreSQL.

Columns carry comments on their meaning. Times are timezone-aware UTC. JSON columns hold
only JSON; large step outputs live in the blob store and the row holds the reference.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

__all__ = [
    "ApiKey",
    "CheckpointBlob",
    "CheckpointRow",
    "CheckpointWrite",
    "Credential",
    "ExecutionLog",
    "ExecutionStatus",
    "Membership",
    "OAuthState",
    "RefreshToken",
    "Role",
    "ScheduleFire",
    "Step",
    "StepStatus",
    "User",
    "Workflow",
    "WorkflowExecution",
    "WorkflowSchedule",
    "WorkflowSignal",
    "WorkflowVersion",
    "Workspace",
    "new_id",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def new_id() -> str:
    """A random id (UUID4, as text: the same on both backends)."""
    return str(uuid.uuid4())


def _ts(comment: str, *, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index, comment=comment)
    )


def _json(comment: str, *, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable, comment=comment))


class ExecutionStatus:
    """Execution states. Terminal: completed, failed, cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})


class StepStatus:
    """Step attempt states."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    WAITING = "waiting"
    CANCELLED = "cancelled"


class Workflow(SQLModel, table=True):
    """A workflow; its graph lives in immutable versions."""

    __tablename__ = "workflow"
    __table_args__ = (
        # Names are unique per workspace, and among local workflows (no workspace).
        Index("uq_workflow_workspace_name", "workspace_id", "name", unique=True),
        Index(
            "uq_workflow_local_name",
            "name",
            unique=True,
            sqlite_where=text("workspace_id IS NULL"),
            postgresql_where=text("workspace_id IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str = Field(
        index=True, sa_column_kwargs={"comment": "Unique in its workspace; CLI and sub-workflows use it."}
    )
    description: str | None = None
    workspace_id: str | None = Field(
        default=None, index=True, sa_column_kwargs={"comment": "The workspace it belongs to; NULL locally."}
    )
    owner_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The user who owns it; NULL locally."})
    is_active: bool = Field(default=True, sa_column_kwargs={"comment": "Inactive workflows keep no schedules."})
    version: int = Field(default=1, sa_column_kwargs={"comment": "The latest version number."})
    trigger_config: list[dict[str, Any]] | None = _json("The latest version's triggers (a copy, for listing).")
    graph_config: dict[str, Any] | None = _json("The latest version's graph (a copy, for listing).")
    created_at: datetime | None = _ts("When it was created.", nullable=False)
    updated_at: datetime | None = _ts("When the latest version was saved.", nullable=False)


class WorkflowVersion(SQLModel, table=True):
    """One immutable version of a workflow's graph, with the plugin versions it was saved against."""

    __tablename__ = "workflow_version"
    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_workflow_version"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workflow_id: str = Field(foreign_key="workflow.id", index=True, ondelete="CASCADE")
    version: int = Field(sa_column_kwargs={"comment": "1, 2, 3...: every graph change is a new version."})
    graph: dict[str, Any] = _json("The workflow's stored form (synthral.engine.model.Workflow).", nullable=False)
    plugin_versions: dict[str, Any] = _json(
        "plugin name -> version pinned when this version was saved.", nullable=False
    )
    digest: str = Field(
        sa_column_kwargs={"comment": "sha256 of the canonical graph JSON; equal digests, equal graphs."}
    )
    created_at: datetime | None = _ts("When it was saved.", nullable=False)


class WorkflowExecution(SQLModel, table=True):
    """One run of one workflow version; also the queue entry workers claim."""

    __tablename__ = "workflow_execution"
    __table_args__ = (Index("ix_workflow_execution_queue", "status", "next_run_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workflow_id: str = Field(foreign_key="workflow.id", index=True, ondelete="CASCADE")
    workflow_version: int = Field(sa_column_kwargs={"comment": "The version this run executes, fixed at start."})
    status: str = Field(
        index=True, sa_column_kwargs={"comment": "queued|running|waiting|paused|completed|failed|cancelled"}
    )
    trigger: str = Field(
        default="manual", sa_column_kwargs={"comment": "manual|cron|signal|webhook|subworkflow|error|replay"}
    )
    input: dict[str, Any] | None = _json("The run's input (templates see it as 'trigger').")
    output: dict[str, Any] | None = _json("Outputs of the nodes that ended the run, by node id.")
    error_type: str | None = None
    error_message: str | None = None
    error_node: str | None = Field(default=None, sa_column_kwargs={"comment": "The node whose step failed the run."})
    current_node_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The node that ran last."})
    started_at: datetime | None = _ts("When the run was created.", nullable=False, index=True)
    completed_at: datetime | None = _ts("When it reached a terminal status.")
    next_run_at: datetime | None = _ts(
        "When a worker may claim it; NULL means not runnable (waiting for a signal, paused, done)."
    )
    lease_owner: str | None = Field(
        default=None, sa_column_kwargs={"comment": "The worker holding the lease; NULL means unclaimed."}
    )
    lease_expires_at: datetime | None = _ts("The lease is void after this; another worker may take over.")
    fencing_token: int = Field(
        default=0, sa_column_kwargs={"comment": "Incremented at every claim; writes from an older token are rejected."}
    )
    waiting_for: dict[str, Any] | None = _json(
        "What a waiting run waits for: {'kind': 'timer'|'signal'|'child', 'node': ..., ...}."
    )
    waiting_kind: str | None = Field(
        default=None,
        sa_column_kwargs={"comment": "timer|signal|child while waiting; signals wake only signal and child waits."},
    )
    pause_requested: bool = Field(
        default=False, sa_column_kwargs={"comment": "Stop at the next step boundary and pause."}
    )
    cancel_requested: bool = Field(default=False, sa_column_kwargs={"comment": "Stop as soon as possible and cancel."})
    steps_taken: int = Field(default=0, sa_column_kwargs={"comment": "Step attempts so far, for max_steps."})
    retry_count: int = Field(default=0, sa_column_kwargs={"comment": "Retries taken by all steps so far."})
    parent_execution_id: str | None = Field(
        default=None, index=True, sa_column_kwargs={"comment": "The run that started this one as a sub-workflow."}
    )
    parent_node_id: str | None = None
    replay_of: str | None = Field(default=None, sa_column_kwargs={"comment": "The run this one replays."})
    execution_state: dict[str, Any] | None = _json("Engine bookkeeping: replayed steps, error-workflow hand-off.")


class Step(SQLModel, table=True):
    """One attempt of one node in one run."""

    __tablename__ = "step"
    __table_args__ = (
        UniqueConstraint("execution_id", "node_id", "iteration", "attempt", name="uq_step_attempt"),
        Index("ix_step_key", "execution_id", "idempotency_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    execution_id: str = Field(foreign_key="workflow_execution.id", index=True, ondelete="CASCADE")
    node_id: str
    node_type: str
    iteration: str = Field(
        default="0",
        sa_column_kwargs={"comment": "Run number of the node in this execution (loops), ':item' for map items."},
    )
    attempt: int = Field(default=1, sa_column_kwargs={"comment": "1 for the first attempt."})
    status: str = Field(sa_column_kwargs={"comment": "running|completed|failed|waiting|cancelled"})
    idempotency_key: str = Field(sa_column_kwargs={"comment": "execution/node/iteration: the same for every attempt."})
    input: dict[str, Any] | None = _json("The rendered input (never secrets).")
    output: dict[str, Any] | None = _json("The output, or {'$blob': ...} when large.")
    error_type: str | None = None
    error_message: str | None = None
    error_details: dict[str, Any] | None = _json(
        "The error's structured details, secrets masked; a plugin's unexpected exception brings its traceback."
    )
    retryable: bool | None = None
    started_at: datetime | None = _ts("When the attempt started.", nullable=False)
    finished_at: datetime | None = _ts("When it ended.")
    duration_ms: float | None = None
    worker: str | None = Field(default=None, sa_column_kwargs={"comment": "The worker that ran the attempt."})
    fencing_token: int = Field(default=0, sa_column_kwargs={"comment": "The lease the attempt ran under."})
    replayed_from: str | None = Field(
        default=None, sa_column_kwargs={"comment": "The execution whose recorded output this reuses."}
    )


class ExecutionLog(SQLModel, table=True):
    """Log lines of a run."""

    __tablename__ = "execution_log"

    id: int | None = Field(default=None, primary_key=True)
    execution_id: str = Field(foreign_key="workflow_execution.id", index=True, ondelete="CASCADE")
    node_id: str | None = None
    level: str
    message: str
    timestamp: datetime | None = _ts("When it was logged.", nullable=False, index=True)


class WorkflowSchedule(SQLModel, table=True):
    """A cron trigger of a workflow."""

    __tablename__ = "workflow_schedule"
    __table_args__ = (UniqueConstraint("workflow_id", "trigger_index", name="uq_schedule_trigger"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workflow_id: str = Field(foreign_key="workflow.id", index=True, ondelete="CASCADE")
    trigger_index: int = Field(sa_column_kwargs={"comment": "Position of the cron trigger in the workflow's triggers."})
    cron_expression: str
    timezone: str = "UTC"
    catch_up: str = Field(default="once", sa_column_kwargs={"comment": "skip|once|all: what to do about missed slots."})
    input: dict[str, Any] | None = _json("Input of each scheduled run.")
    is_active: bool = True
    next_run_at: datetime | None = _ts("The next slot to fire.", index=True)
    last_run_at: datetime | None = _ts("The last slot fired.")
    fired_count: int = 0
    missed_count: int = Field(
        default=0,
        sa_column_kwargs={"comment": "Slots missed while no scheduler ran and not fired (catch-up skip/once)."},
    )


class ScheduleFire(SQLModel, table=True):
    """One fired slot; the primary key makes two schedulers unable to fire a slot twice."""

    __tablename__ = "schedule_fire"

    schedule_id: str = Field(foreign_key="workflow_schedule.id", primary_key=True, ondelete="CASCADE")
    slot: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True, comment="The slot's time."))
    execution_id: str | None = None
    fired_at: datetime | None = _ts("When it fired.")
    fired_by: str | None = None


class WorkflowSignal(SQLModel, table=True):
    """A signal sent to a run (human input, webhook, connector ready, custom)."""

    __tablename__ = "workflow_signal"
    __table_args__ = (UniqueConstraint("execution_id", "dedupe_key", name="uq_signal_dedupe"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    execution_id: str = Field(foreign_key="workflow_execution.id", index=True, ondelete="CASCADE")
    signal_type: str = Field(sa_column_kwargs={"comment": "human_input|webhook|connector_ready|custom"})
    name: str = Field(
        default="", sa_column_kwargs={"comment": "For custom signals, the name a wait_signal node waits for."}
    )
    signal_data: dict[str, Any] | None = _json("The signal's payload.")
    dedupe_key: str = Field(
        sa_column_kwargs={"comment": "The sender's id for the signal; a second signal with it is ignored."}
    )
    received_at: datetime | None = _ts("When it arrived.", nullable=False)
    processed: bool = Field(default=False, sa_column_kwargs={"comment": "Consumed by a step (exactly once)."})
    processed_at: datetime | None = _ts("When a step consumed it.")
    processed_by: str | None = Field(
        default=None, sa_column_kwargs={"comment": "The idempotency key of the consuming step."}
    )


class CheckpointRow(SQLModel, table=True):
    """A LangGraph checkpoint (channel values are in checkpoint_blob)."""

    __tablename__ = "checkpoint"

    thread_id: str = Field(primary_key=True, sa_column_kwargs={"comment": "The execution id."})
    checkpoint_ns: str = Field(default="", primary_key=True)
    checkpoint_id: str = Field(
        primary_key=True, sa_column_kwargs={"comment": "Time-ordered (uuid6): the latest sorts last."}
    )
    parent_checkpoint_id: str | None = None
    type: str
    checkpoint: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    meta_type: str
    meta: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointBlob(SQLModel, table=True):
    """A channel's value at one version."""

    __tablename__ = "checkpoint_blob"

    thread_id: str = Field(primary_key=True)
    checkpoint_ns: str = Field(default="", primary_key=True)
    channel: str = Field(primary_key=True)
    version: str = Field(primary_key=True)
    type: str
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointWrite(SQLModel, table=True):
    """A pending write of a task to a channel."""

    __tablename__ = "checkpoint_write"

    thread_id: str = Field(primary_key=True)
    checkpoint_ns: str = Field(default="", primary_key=True)
    checkpoint_id: str = Field(primary_key=True)
    task_id: str = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    channel: str
    type: str
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    task_path: str = ""


# -- server mode: identity, access, secrets, webhooks ------------------------------------------


class Role:
    """A member's role in a workspace, from most to least power."""

    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"
    ALL = (OWNER, EDITOR, VIEWER)


class Workspace(SQLModel, table=True):
    """A tenant: workflows, executions, credentials and members belong to one."""

    __tablename__ = "workspace"

    id: str = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(unique=True, index=True, sa_column_kwargs={"comment": "URL-safe unique name."})
    name: str
    created_at: datetime | None = _ts("When it was created.", nullable=False)


class User(SQLModel, table=True):
    """A person who signs in (or the implicit local user of the desktop)."""

    __tablename__ = "user_account"

    id: str = Field(default_factory=new_id, primary_key=True)
    email: str = Field(unique=True, index=True, sa_column_kwargs={"comment": "Lower-cased; the login name."})
    display_name: str = ""
    password_hash: str | None = Field(
        default=None, sa_column_kwargs={"comment": "argon2id PHC string; NULL for OIDC-only users."}
    )
    totp_secret: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True, comment="TOTP seed, encrypted (secret box).")
    )
    totp_enabled: bool = Field(default=False, sa_column_kwargs={"comment": "Login needs a TOTP code."})
    oidc_subject: str | None = Field(default=None, unique=True, sa_column_kwargs={"comment": "issuer|sub for OIDC."})
    is_active: bool = True
    failed_logins: int = Field(default=0, sa_column_kwargs={"comment": "Failed logins since the last success."})
    locked_until: datetime | None = _ts("Logins are refused until then (brute-force protection).")
    created_at: datetime | None = _ts("When it was created.", nullable=False)


class Membership(SQLModel, table=True):
    """A user's role in a workspace."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id", name="uq_membership"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, ondelete="CASCADE")
    user_id: str = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    role: str = Field(sa_column_kwargs={"comment": "owner|editor|viewer"})


class RefreshToken(SQLModel, table=True):
    """One refresh token of a rotation family; only its hash is kept."""

    __tablename__ = "refresh_token"

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    family_id: str = Field(index=True, sa_column_kwargs={"comment": "Tokens rotated from one login share it."})
    token_hash: str = Field(unique=True, sa_column_kwargs={"comment": "sha256 of the token."})
    issued_at: datetime | None = _ts("When it was issued.", nullable=False)
    expires_at: datetime | None = _ts("It is refused after this.", nullable=False)
    rotated_at: datetime | None = _ts("When it was exchanged; using it again revokes the family.")
    revoked_at: datetime | None = _ts("When its family was revoked (logout or reuse).")


class ApiKey(SQLModel, table=True):
    """A key for scripts, acting as its user in one workspace; only its hash is kept."""

    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    workspace_id: str = Field(foreign_key="workspace.id", index=True, ondelete="CASCADE")
    name: str
    prefix: str = Field(unique=True, sa_column_kwargs={"comment": "The key's public lookup part."})
    key_hash: str = Field(sa_column_kwargs={"comment": "sha256 of the whole key."})
    created_at: datetime | None = _ts("When it was created.", nullable=False)
    expires_at: datetime | None = _ts("It is refused after this; NULL never expires.")
    last_used_at: datetime | None = _ts("When it last authenticated a request.")
    revoked_at: datetime | None = _ts("When it was revoked.")
    workflow_id: str | None = Field(
        default=None,
        foreign_key="workflow.id",
        ondelete="CASCADE",
        sa_column_kwargs={"comment": "Set: the key may only chat about this one workflow (an embedded copilot)."},
    )


class Credential(SQLModel, table=True):
    """A secret of a workspace, encrypted with AES-GCM under a key kept outside the database."""

    __tablename__ = "credential"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_credential_name"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, ondelete="CASCADE")
    name: str = Field(sa_column_kwargs={"comment": "What nodes ask for (secrets: [name])."})
    kind: str = Field(default="secret", sa_column_kwargs={"comment": "secret|oauth2|api_key|basic"})
    key_id: str = Field(index=True, sa_column_kwargs={"comment": "The encryption key's id (for rotation)."})
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False, comment="AES-GCM nonce, 12 bytes."))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False, comment="AES-GCM ciphertext and tag."))
    meta: dict[str, Any] | None = _json("What may be shown: connector, scopes, expiry; never the secret.")
    created_at: datetime | None = _ts("When it was created.", nullable=False)
    updated_at: datetime | None = _ts("When it was last written or re-encrypted.", nullable=False)


class OAuthState(SQLModel, table=True):
    """A pending OAuth authorization: created when a user starts connecting, spent by the callback."""

    __tablename__ = "oauth_state"

    id: str = Field(default_factory=new_id, primary_key=True)
    state_hash: str = Field(
        unique=True,
        sa_column_kwargs={"comment": "sha256 of the state sent to the provider; the state itself is never kept."},
    )
    workspace_id: str = Field(foreign_key="workspace.id", index=True, ondelete="CASCADE")
    user_id: str = Field(sa_column_kwargs={"comment": "The user who started the authorization."})
    connector: str = Field(
        sa_column_kwargs={"comment": "The connector's slug; the callback must come for the same one."}
    )
    key_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The key that sealed the code verifier."})
    code_verifier: bytes | None = Field(
        default=None,
        sa_column=Column(
            LargeBinary, nullable=True, comment="PKCE code verifier, sealed (nonce + ciphertext); NULL without PKCE."
        ),
    )
    redirect_uri: str = Field(sa_column_kwargs={"comment": "Sent again with the code, as RFC 6749 requires."})
    created_at: datetime | None = _ts("When the authorization started.", nullable=False)
    expires_at: datetime | None = _ts("The callback is refused after this.", nullable=False, index=True)
    used_at: datetime | None = _ts("When a callback spent it; NULL means still pending.")


from synthral.store import ai_tables as _ai_tables  # noqa: E402, F401 -- the AI tables share this metadata
