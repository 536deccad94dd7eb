"""The tables, declared once with SQLAlchemy Core and shared by SQLite and PostgreSQL.

Every module reads and writes them through the names exported here; writes of run state go
through one owner, :mod:`synthral.engine.state`. Columns carry comments on their meaning.
Times are timezone-aware UTC in and out (:class:`UTCDateTime`), whichever backend. JSON
columns hold only JSON; large step outputs live in the blob store and the row holds the
reference.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "API_KEY",
    "CHECKPOINT",
    "CHECKPOINT_BLOB",
    "CHECKPOINT_TABLES",
    "CHECKPOINT_WRITE",
    "CREDENTIAL",
    "EXECUTION",
    "EXECUTION_LOG",
    "MEMBERSHIP",
    "OAUTH_STATE",
    "REFRESH_TOKEN",
    "SCHEDULE",
    "SCHEDULE_FIRE",
    "SIGNAL",
    "STEP",
    "TRIGGER_CURSOR",
    "USER",
    "WORKFLOW",
    "WORKFLOW_VERSION",
    "WORKSPACE",
    "ExecutionStatus",
    "Role",
    "StepStatus",
    "UTCDateTime",
    "metadata",
    "new_id",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def new_id() -> str:
    """A random id (UUID4, as text: the same on both backends)."""
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC in both directions, on every backend.

    SQLite keeps no offset with a time and hands values back naive; PostgreSQL keeps
    ``timestamptz``. Values are converted to UTC on the way in (a naive value is taken as
    UTC) and come back aware, so no caller has to repair them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """UTC on the way in."""
        del dialect
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware UTC on the way out."""
        del dialect
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExecutionStatus:
    """Execution states. Terminal: completed, failed, cancelled."""

    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    WAITING: Final = "waiting"
    PAUSED: Final = "paused"
    COMPLETED: Final = "completed"
    FAILED: Final = "failed"
    CANCELLED: Final = "cancelled"
    TERMINAL: Final = frozenset({COMPLETED, FAILED, CANCELLED})


class StepStatus:
    """Step attempt states."""

    RUNNING: Final = "running"
    COMPLETED: Final = "completed"
    FAILED: Final = "failed"
    WAITING: Final = "waiting"
    CANCELLED: Final = "cancelled"
    ABANDONED: Final = "abandoned"
    """The worker running the attempt stopped (crashed, or lost its lease) before it ended."""


class Role:
    """A member's role in a workspace, from most to least power."""

    OWNER: Final = "owner"
    EDITOR: Final = "editor"
    VIEWER: Final = "viewer"
    ALL: Final = (OWNER, EDITOR, VIEWER)


metadata = MetaData()


def _id() -> Column[str]:
    return Column("id", String, primary_key=True, default=new_id)


def _ts(name: str, comment: str, *, nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable, index=index, comment=comment)


def _json(name: str, comment: str, *, nullable: bool = True) -> Column[Any]:
    return Column(name, JSON, nullable=nullable, comment=comment)


def _fk(name: str, target: str, *, comment: str | None = None) -> Column[str]:
    return Column(name, String, ForeignKey(target, ondelete="CASCADE"), nullable=False, index=True, comment=comment)


# -- workflows and runs --------------------------------------------------------------------

WORKFLOW: Final = Table(
    "workflow",
    metadata,
    _id(),
    Column(
        "name", String, nullable=False, index=True, comment="Unique in its workspace; CLI and sub-workflows use it."
    ),
    Column("description", String, nullable=True),
    Column("workspace_id", String, nullable=True, index=True, comment="The workspace it belongs to; NULL locally."),
    Column("owner_id", String, nullable=True, comment="The user who owns it; NULL locally."),
    Column("is_active", Boolean, nullable=False, default=True, comment="Inactive workflows keep no schedules."),
    Column("version", Integer, nullable=False, default=1, comment="The latest version number."),
    _json("trigger_config", "The latest version's triggers (a copy, for listing)."),
    _json("graph_config", "The latest version's graph (a copy, for listing)."),
    _ts("created_at", "When it was created.", nullable=False),
    _ts("updated_at", "When the latest version was saved.", nullable=False),
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
"""A workflow; its graph lives in immutable versions."""

WORKFLOW_VERSION: Final = Table(
    "workflow_version",
    metadata,
    _id(),
    _fk("workflow_id", "workflow.id"),
    Column("version", Integer, nullable=False, comment="1, 2, 3...: every graph change is a new version."),
    _json("graph", "The workflow's stored form (synthral.engine.model.Workflow).", nullable=False),
    _json("plugin_versions", "plugin name -> version pinned when this version was saved.", nullable=False),
    Column(
        "digest", String, nullable=False, comment="sha256 of the canonical graph JSON; equal digests, equal graphs."
    ),
    _ts("created_at", "When it was saved.", nullable=False),
    UniqueConstraint("workflow_id", "version", name="uq_workflow_version"),
)
"""One immutable version of a workflow's graph, with the plugin versions it was saved against."""

EXECUTION: Final = Table(
    "workflow_execution",
    metadata,
    _id(),
    _fk("workflow_id", "workflow.id"),
    Column("workflow_version", Integer, nullable=False, comment="The version this run executes, fixed at start."),
    Column(
        "status",
        String,
        nullable=False,
        index=True,
        comment="queued|running|waiting|paused|completed|failed|cancelled",
    ),
    Column(
        "trigger",
        String,
        nullable=False,
        default="manual",
        comment="manual|cron|poll|signal|webhook|subworkflow|error|replay",
    ),
    _json("input", "The run's input (templates see it as 'trigger')."),
    _json("output", "Outputs of the nodes that ended the run, by node id."),
    Column("error_type", String, nullable=True),
    Column("error_message", String, nullable=True),
    Column("error_node", String, nullable=True, comment="The node whose step failed the run."),
    Column("current_node_id", String, nullable=True, comment="The node that ran last."),
    _ts("started_at", "When the run was created.", nullable=False, index=True),
    _ts("completed_at", "When it reached a terminal status."),
    _ts("next_run_at", "When a worker may claim it; NULL means not runnable (waiting for a signal, paused, done)."),
    Column("lease_owner", String, nullable=True, comment="The worker holding the lease; NULL means unclaimed."),
    _ts("lease_expires_at", "The lease is void after this; another worker may take over."),
    Column(
        "fencing_token",
        Integer,
        nullable=False,
        default=0,
        comment="Incremented at every claim; writes from an older token are rejected.",
    ),
    _json("waiting_for", "What a waiting run waits for: {'kind': 'timer'|'signal'|'child', 'node': ..., ...}."),
    Column(
        "waiting_kind",
        String,
        nullable=True,
        comment="timer|signal|child while waiting; signals wake only signal and child waits.",
    ),
    Column(
        "pause_requested", Boolean, nullable=False, default=False, comment="Stop at the next step boundary and pause."
    ),
    Column("cancel_requested", Boolean, nullable=False, default=False, comment="Stop as soon as possible and cancel."),
    Column(
        "steps_taken",
        Integer,
        nullable=False,
        default=0,
        comment="Steps begun so far (attempts included), for max_steps; written with every fenced write.",
    ),
    Column(
        "retry_count",
        Integer,
        nullable=False,
        default=0,
        comment="Retries taken by all steps so far; written with every fenced write.",
    ),
    Column(
        "parent_execution_id",
        String,
        nullable=True,
        index=True,
        comment="The run that started this one as a sub-workflow.",
    ),
    Column("parent_node_id", String, nullable=True),
    Column("replay_of", String, nullable=True, comment="The run this one replays."),
    _json("execution_state", "Engine bookkeeping: replayed steps, error-workflow hand-off."),
    Index("ix_workflow_execution_queue", "status", "next_run_at"),
)
"""One run of one workflow version; also the queue entry workers claim."""

STEP: Final = Table(
    "step",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _fk("execution_id", "workflow_execution.id"),
    Column("node_id", String, nullable=False),
    Column("node_type", String, nullable=False),
    Column(
        "iteration",
        String,
        nullable=False,
        default="0",
        comment="Run number of the node in this execution (loops), ':item' for map items.",
    ),
    Column("attempt", Integer, nullable=False, default=1, comment="1 for the first attempt."),
    Column("status", String, nullable=False, comment="running|completed|failed|waiting|cancelled|abandoned"),
    Column("idempotency_key", String, nullable=False, comment="execution/node/iteration: the same for every attempt."),
    _json("input", "The rendered input (never secrets)."),
    _json("output", "The output, or {'$blob': ...} when large."),
    Column("error_type", String, nullable=True),
    Column("error_message", String, nullable=True),
    _json(
        "error_details",
        "The error's structured details, secrets masked; a plugin's unexpected exception brings its traceback.",
    ),
    Column("retryable", Boolean, nullable=True),
    _ts("started_at", "When the attempt started.", nullable=False),
    _ts("finished_at", "When it ended."),
    Column("duration_ms", Float, nullable=True),
    Column("worker", String, nullable=True, comment="The worker that ran the attempt."),
    Column("fencing_token", Integer, nullable=False, default=0, comment="The lease the attempt ran under."),
    Column("replayed_from", String, nullable=True, comment="The execution whose recorded output this reuses."),
    UniqueConstraint("execution_id", "node_id", "iteration", "attempt", name="uq_step_attempt"),
    Index("ix_step_key", "execution_id", "idempotency_key"),
)
"""One attempt of one node in one run."""

EXECUTION_LOG: Final = Table(
    "execution_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _fk("execution_id", "workflow_execution.id"),
    Column("node_id", String, nullable=True),
    Column("level", String, nullable=False),
    Column("message", String, nullable=False),
    _ts("timestamp", "When it was logged.", nullable=False, index=True),
)
"""Log lines of a run."""

SCHEDULE: Final = Table(
    "workflow_schedule",
    metadata,
    _id(),
    _fk("workflow_id", "workflow.id"),
    Column(
        "trigger_index", Integer, nullable=False, comment="Position of the cron trigger in the workflow's triggers."
    ),
    Column("cron_expression", String, nullable=False),
    Column("timezone", String, nullable=False, default="UTC"),
    Column("catch_up", String, nullable=False, default="once", comment="skip|once|all: what to do about missed slots."),
    _json("input", "Input of each scheduled run."),
    Column("is_active", Boolean, nullable=False, default=True),
    _ts("next_run_at", "The next slot to fire.", index=True),
    _ts("last_run_at", "The last slot fired."),
    Column("fired_count", Integer, nullable=False, default=0),
    Column(
        "missed_count",
        Integer,
        nullable=False,
        default=0,
        comment="Slots missed while no scheduler ran and not fired (catch-up skip/once).",
    ),
    UniqueConstraint("workflow_id", "trigger_index", name="uq_schedule_trigger"),
)
"""A cron trigger of a workflow."""

SCHEDULE_FIRE: Final = Table(
    "schedule_fire",
    metadata,
    Column(
        "schedule_id",
        String,
        ForeignKey("workflow_schedule.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("slot", UTCDateTime(), primary_key=True, comment="The slot's time."),
    Column("execution_id", String, nullable=True),
    _ts("fired_at", "When it fired."),
    Column("fired_by", String, nullable=True),
)
"""One fired slot; the primary key makes two schedulers unable to fire a slot twice."""

TRIGGER_CURSOR: Final = Table(
    "trigger_cursor",
    metadata,
    _id(),
    _fk("workflow_id", "workflow.id"),
    Column(
        "trigger_index", Integer, nullable=False, comment="Position of the poll trigger in the workflow's triggers."
    ),
    Column("capability", String, nullable=False, comment="The trigger capability polled, 'plugin/capability'."),
    Column(
        "definition_digest",
        String,
        nullable=False,
        comment="sha256 of the trigger's definition; a changed definition starts from no state.",
    ),
    _json("state", "The cursor the last poll returned, handed to the next; NULL before the first poll."),
    Column("interval_seconds", Float, nullable=False, comment="Seconds between polls."),
    _ts("next_poll_at", "When the trigger is polled next.", index=True),
    Column("claimed_by", String, nullable=True, comment="The poller polling it now; NULL when no poll is in flight."),
    _ts("claimed_until", "The claim is void after this; another poller may poll."),
    _ts("last_polled_at", "When the last poll committed."),
    Column("last_error", String, nullable=True, comment="Why the last poll failed; NULL after a success."),
    Column("polls", Integer, nullable=False, default=0, comment="Polls committed."),
    Column("events", Integer, nullable=False, default=0, comment="Runs started by new events."),
    UniqueConstraint("workflow_id", "trigger_index", name="uq_trigger_cursor"),
)
"""A polling trigger of a workflow and its durable cursor."""

SIGNAL: Final = Table(
    "workflow_signal",
    metadata,
    _id(),
    _fk("execution_id", "workflow_execution.id"),
    Column("signal_type", String, nullable=False, comment="human_input|webhook|connector_ready|custom"),
    Column(
        "name",
        String,
        nullable=False,
        default="",
        comment="For custom signals, the name a wait_signal node waits for.",
    ),
    _json("signal_data", "The signal's payload."),
    Column(
        "dedupe_key",
        String,
        nullable=False,
        comment="The sender's id for the signal; a second signal with it is ignored.",
    ),
    _ts("received_at", "When it arrived.", nullable=False),
    Column("processed", Boolean, nullable=False, default=False, comment="Consumed by a step (exactly once)."),
    _ts("processed_at", "When a step consumed it."),
    Column("processed_by", String, nullable=True, comment="The idempotency key of the consuming step."),
    UniqueConstraint("execution_id", "dedupe_key", name="uq_signal_dedupe"),
)
"""A signal sent to a run (human input, webhook, connector ready, custom)."""

# -- LangGraph checkpoints -----------------------------------------------------------------

CHECKPOINT: Final = Table(
    "checkpoint",
    metadata,
    Column("thread_id", String, primary_key=True, comment="The execution id."),
    Column("checkpoint_ns", String, primary_key=True, default=""),
    Column("checkpoint_id", String, primary_key=True, comment="Time-ordered (uuid6): the latest sorts last."),
    Column("parent_checkpoint_id", String, nullable=True),
    Column("type", String, nullable=False),
    Column("checkpoint", LargeBinary, nullable=False),
    Column("meta_type", String, nullable=False),
    Column("meta", LargeBinary, nullable=False),
)
"""A LangGraph checkpoint (channel values are in checkpoint_blob)."""

CHECKPOINT_BLOB: Final = Table(
    "checkpoint_blob",
    metadata,
    Column("thread_id", String, primary_key=True),
    Column("checkpoint_ns", String, primary_key=True, default=""),
    Column("channel", String, primary_key=True),
    Column("version", String, primary_key=True),
    Column("type", String, nullable=False),
    Column("blob", LargeBinary, nullable=False),
)
"""A channel's value at one version."""

CHECKPOINT_WRITE: Final = Table(
    "checkpoint_write",
    metadata,
    Column("thread_id", String, primary_key=True),
    Column("checkpoint_ns", String, primary_key=True, default=""),
    Column("checkpoint_id", String, primary_key=True),
    Column("task_id", String, primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("channel", String, nullable=False),
    Column("type", String, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("task_path", String, nullable=False, default=""),
)
"""A pending write of a task to a channel."""

CHECKPOINT_TABLES: Final = (CHECKPOINT_WRITE, CHECKPOINT_BLOB, CHECKPOINT)
"""The checkpoint tables, in the order rows are deleted (no foreign keys bind them)."""

# -- server mode: identity, access, secrets ------------------------------------------------

WORKSPACE: Final = Table(
    "workspace",
    metadata,
    _id(),
    Column("slug", String, nullable=False, unique=True, index=True, comment="URL-safe unique name."),
    Column("name", String, nullable=False),
    _ts("created_at", "When it was created.", nullable=False),
)
"""A tenant: workflows, executions, credentials and members belong to one."""

USER: Final = Table(
    "user_account",
    metadata,
    _id(),
    Column("email", String, nullable=False, unique=True, index=True, comment="Lower-cased; the login name."),
    Column("display_name", String, nullable=False, default=""),
    Column("password_hash", String, nullable=True, comment="argon2id PHC string; NULL for OIDC-only users."),
    Column("totp_secret", LargeBinary, nullable=True, comment="TOTP seed, encrypted (secret box)."),
    Column("totp_enabled", Boolean, nullable=False, default=False, comment="Login needs a TOTP code."),
    Column("oidc_subject", String, nullable=True, unique=True, comment="issuer|sub for OIDC."),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0, comment="Failed logins since the last success."),
    _ts("locked_until", "Logins are refused until then (brute-force protection)."),
    _ts("created_at", "When it was created.", nullable=False),
)
"""A person who signs in (or the implicit local user of the desktop)."""

MEMBERSHIP: Final = Table(
    "membership",
    metadata,
    _id(),
    _fk("workspace_id", "workspace.id"),
    _fk("user_id", "user_account.id"),
    Column("role", String, nullable=False, comment="owner|editor|viewer"),
    UniqueConstraint("workspace_id", "user_id", name="uq_membership"),
)
"""A user's role in a workspace."""

REFRESH_TOKEN: Final = Table(
    "refresh_token",
    metadata,
    _id(),
    _fk("user_id", "user_account.id"),
    Column("family_id", String, nullable=False, index=True, comment="Tokens rotated from one login share it."),
    Column("token_hash", String, nullable=False, unique=True, comment="sha256 of the token."),
    _ts("issued_at", "When it was issued.", nullable=False),
    _ts("expires_at", "It is refused after this.", nullable=False),
    _ts("rotated_at", "When it was exchanged; using it again revokes the family."),
    _ts("revoked_at", "When its family was revoked (logout or reuse)."),
)
"""One refresh token of a rotation family; only its hash is kept."""

API_KEY: Final = Table(
    "api_key",
    metadata,
    _id(),
    _fk("user_id", "user_account.id"),
    _fk("workspace_id", "workspace.id"),
    Column("name", String, nullable=False),
    Column("prefix", String, nullable=False, unique=True, comment="The key's public lookup part."),
    Column("key_hash", String, nullable=False, comment="sha256 of the whole key."),
    _ts("created_at", "When it was created.", nullable=False),
    _ts("expires_at", "It is refused after this; NULL never expires."),
    _ts("last_used_at", "When it last authenticated a request."),
    _ts("revoked_at", "When it was revoked."),
    Column(
        "workflow_id",
        String,
        ForeignKey("workflow.id", ondelete="CASCADE", name="fk_api_key_workflow_id"),
        nullable=True,
        comment="Set: the key may only chat about this one workflow (an embedded copilot).",
    ),
)
"""A key for scripts, acting as its user in one workspace (or one workflow's copilot); only its hash is kept."""

CREDENTIAL: Final = Table(
    "credential",
    metadata,
    _id(),
    _fk("workspace_id", "workspace.id"),
    Column("name", String, nullable=False, comment="What nodes ask for (secrets: [name])."),
    Column("kind", String, nullable=False, default="secret", comment="secret|oauth2|api_key|basic"),
    Column("key_id", String, nullable=False, index=True, comment="The encryption key's id (for rotation)."),
    Column("nonce", LargeBinary, nullable=False, comment="AES-GCM nonce, 12 bytes."),
    Column("ciphertext", LargeBinary, nullable=False, comment="AES-GCM ciphertext and tag."),
    _json("meta", "What may be shown: connector, scopes, expiry; never the secret."),
    _ts("created_at", "When it was created.", nullable=False),
    _ts("updated_at", "When it was last written or re-encrypted.", nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_credential_name"),
)
"""A secret of a workspace, encrypted with AES-GCM under a key kept outside the database."""

OAUTH_STATE: Final = Table(
    "oauth_state",
    metadata,
    _id(),
    Column(
        "state_hash",
        String,
        nullable=False,
        unique=True,
        comment="sha256 of the state sent to the provider; the state itself is never kept.",
    ),
    _fk("workspace_id", "workspace.id"),
    Column("user_id", String, nullable=False, comment="The user who started the authorization."),
    Column(
        "connector", String, nullable=False, comment="The connector's slug; the callback must come for the same one."
    ),
    Column("key_id", String, nullable=True, comment="The key that sealed the code verifier."),
    Column(
        "code_verifier",
        LargeBinary,
        nullable=True,
        comment="PKCE code verifier, sealed (nonce + ciphertext); NULL without PKCE.",
    ),
    Column("redirect_uri", String, nullable=False, comment="Sent again with the code, as RFC 6749 requires."),
    _ts("created_at", "When the authorization started.", nullable=False),
    _ts("expires_at", "The callback is refused after this.", nullable=False, index=True),
    _ts("used_at", "When a callback spent it; NULL means still pending."),
)
"""A pending OAuth authorization: created when a user starts connecting, spent by the callback."""


# The AI, audit, blob, code, copilot, desktop, OCR, OSINT, retrieval and web tables share this metadata; importing
# them here makes every table known wherever any table is (migrations, create_all, the schema comparison in the tests).
from synthral.store import ai_tables as _ai_tables  # noqa: E402, F401
from synthral.store import audit_tables as _audit_tables  # noqa: E402, F401
from synthral.store import blob_tables as _blob_tables  # noqa: E402, F401
from synthral.store import code_tables as _code_tables  # noqa: E402, F401
from synthral.store import copilot_tables as _copilot_tables  # noqa: E402, F401
from synthral.store import desktop_tables as _desktop_tables  # noqa: E402, F401
from synthral.store import ocr_tables as _ocr_tables  # noqa: E402, F401
from synthral.store import osint_tables as _osint_tables  # noqa: E402, F401
from synthral.store import rag_tables as _rag_tables  # noqa: E402, F401
from synthral.store import upgrade_tables as _upgrade_tables  # noqa: E402, F401
from synthral.store import web_tables as _web_tables  # noqa: E402, F401
