"""Tables of sandboxed code: runs, named sandboxes, the tool registry and CPU quotas.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module so that every table is known wherever any table is.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from synthral.store.tables import UTCDateTime, metadata, new_id

__all__ = ["CODE_EXECUTION", "CODE_QUOTA", "CODE_SANDBOX", "CODE_TOOL"]


def _workspace(comment: str, *, index: bool) -> Column[str]:
    return Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=True,
        index=index,
        comment=comment,
    )


def _json(name: str, comment: str) -> Column[Any]:
    return Column(name, JSON, nullable=True, comment=comment)


CODE_SANDBOX: Final = Table(
    "code_sandbox",
    metadata,
    Column("id", String, primary_key=True, default=new_id),
    _workspace("The workspace it belongs to; NULL for local use.", index=True),
    Column("name", String, nullable=False, comment="What code nodes and API calls name (sandbox: NAME)."),
    Column("runtime", String, nullable=False, comment="The code runtime capability, e.g. 'code-wasi/wasi'."),
    _json("config", "The runtime's config (never secrets)."),
    _json("limits", "Default limits: timeout_s, memory_mb, cpu_s, output_bytes, max_processes."),
    _json("network", "Hosts code in this sandbox may reach; NULL or empty means none."),
    _json("packages", "Packages made importable in every run."),
    _json("secrets", "Workspace credentials granted to the runtime (e.g. an E2B API key)."),
    Column("created_at", UTCDateTime(), nullable=False, comment="When it was created."),
    Column("updated_at", UTCDateTime(), nullable=False, comment="When it was last changed."),
    UniqueConstraint("workspace_id", "name", name="uq_code_sandbox_name"),
)
"""A named sandbox configuration of a workspace: which runtime, its config, limits and grants."""

CODE_TOOL: Final = Table(
    "code_tool",
    metadata,
    Column("id", String, primary_key=True, default=new_id),
    _workspace("The workspace it belongs to; NULL for local use.", index=True),
    Column("name", String, nullable=False, index=True, comment="Unique with version in its workspace."),
    Column("version", Integer, nullable=False, comment="1 for the first registration, one more for each after."),
    Column("description", String, nullable=False, default=""),
    Column("language", String, nullable=False, comment="python or javascript."),
    Column("code", Text, nullable=False, comment="The snippet; reads inputs, sets result."),
    _json("input_schema", "JSON Schema the inputs must satisfy."),
    _json("output_schema", "JSON Schema the result must satisfy."),
    Column("runtime", String, nullable=True, comment="Runtime capability; the default if NULL."),
    Column("sandbox", String, nullable=True, comment="A named sandbox of the workspace."),
    _json("limits", "Limits for its runs (over the sandbox's)."),
    Column("created_by", String, nullable=True, comment="The user who registered it."),
    Column("created_at", UTCDateTime(), nullable=False, comment="When this version was registered."),
    UniqueConstraint("workspace_id", "name", "version", name="uq_code_tool_version"),
)
"""One version of a saved snippet with typed inputs and outputs; versions are immutable."""

CODE_EXECUTION: Final = Table(
    "code_execution",
    metadata,
    Column("id", String, primary_key=True, default=new_id),
    _workspace("The workspace charged; NULL for local runs.", index=False),
    Column("user_id", String, nullable=True, comment="Who asked (API); NULL from a workflow."),
    Column("runtime", String, nullable=False, comment="The runtime capability that ran it."),
    Column("sandbox", String, nullable=True, comment="The named sandbox, if one was used."),
    Column("language", String, nullable=False),
    Column("code_sha256", String, nullable=False, comment="Hash of the code (the code itself is not kept here)."),
    Column("tool_id", String, nullable=True, comment="The tool version run, if any."),
    Column("workflow_execution_id", String, nullable=True, index=True, comment="The run."),
    Column("node_id", String, nullable=True, comment="The workflow node, if any."),
    Column("status", String, nullable=False, comment="running|completed|failed|limit|error"),
    Column("exit_code", Integer, nullable=True),
    Column("limit_hit", String, nullable=True, comment="timeout|cpu|memory|output|processes"),
    Column("error_type", String, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("stdout", Text, nullable=True, comment="The first 16 KiB."),
    Column("stderr", Text, nullable=True, comment="The first 16 KiB."),
    Column("duration_ms", Float, nullable=True),
    Column("cpu_s", Float, nullable=False, default=0.0, comment="CPU seconds charged to the quota."),
    Column("started_at", UTCDateTime(), nullable=False, comment="When the run started."),
    Column("finished_at", UTCDateTime(), nullable=True, comment="When it ended; NULL while it runs."),
    Index("ix_code_execution_workspace_started", "workspace_id", "started_at"),
)
"""One run of code: where it ran, how it ended, what it cost (the quota sums cpu_s)."""

CODE_QUOTA: Final = Table(
    "code_quota",
    metadata,
    Column("workspace_id", String, ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True),
    Column("cpu_seconds_per_day", Float, nullable=False, comment="CPU seconds of code per UTC day."),
    Column("updated_at", UTCDateTime(), nullable=False, comment="When it was set."),
)
"""A workspace's own CPU budget for code, overriding the server's default."""
