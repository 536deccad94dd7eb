"""Tables of sandboxed code: runs, named sandboxes, the tool registry and CPU quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from synthral.store.models import _json, _ts, new_id

__all__ = ["CodeExecution", "CodeQuota", "CodeSandbox", "CodeTool"]


class CodeSandbox(SQLModel, table=True):
    """A named sandbox configuration of a workspace: which runtime, its config, limits and grants."""

    __tablename__ = "code_sandbox"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_code_sandbox_name"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = Field(
        default=None, foreign_key="workspace.id", index=True, ondelete="CASCADE",
        sa_column_kwargs={"comment": "The workspace it belongs to; NULL for local use."},
    )  # fmt: skip
    name: str = Field(sa_column_kwargs={"comment": "What code nodes and API calls name (sandbox: NAME)."})
    runtime: str = Field(sa_column_kwargs={"comment": "The code runtime capability, e.g. 'code-wasi/wasi'."})
    config: dict[str, Any] | None = _json("The runtime's config (never secrets).")
    limits: dict[str, Any] | None = _json("Default limits: timeout_s, memory_mb, cpu_s, output_bytes, max_processes.")
    network: list[str] | None = _json("Hosts code in this sandbox may reach; NULL or empty means none.")
    packages: list[str] | None = _json("Packages made importable in every run.")
    secrets: list[str] | None = _json("Workspace credentials granted to the runtime (e.g. an E2B API key).")
    created_at: datetime | None = _ts("When it was created.", nullable=False)
    updated_at: datetime | None = _ts("When it was last changed.", nullable=False)


class CodeTool(SQLModel, table=True):
    """One version of a saved snippet with typed inputs and outputs; versions are immutable."""

    __tablename__ = "code_tool"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "version", name="uq_code_tool_version"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = Field(
        default=None, foreign_key="workspace.id", index=True, ondelete="CASCADE",
        sa_column_kwargs={"comment": "The workspace it belongs to; NULL for local use."},
    )  # fmt: skip
    name: str = Field(index=True, sa_column_kwargs={"comment": "Unique with version in its workspace."})
    version: int = Field(sa_column_kwargs={"comment": "1 for the first registration, one more for each after."})
    description: str = ""
    language: str = Field(sa_column_kwargs={"comment": "python or javascript."})
    code: str = Field(sa_column=Column(Text, nullable=False, comment="The snippet; reads inputs, sets result."))
    input_schema: dict[str, Any] | None = _json("JSON Schema the inputs must satisfy.")
    output_schema: dict[str, Any] | None = _json("JSON Schema the result must satisfy.")
    runtime: str | None = Field(default=None, sa_column_kwargs={"comment": "Runtime capability; the default if NULL."})
    sandbox: str | None = Field(default=None, sa_column_kwargs={"comment": "A named sandbox of the workspace."})
    limits: dict[str, Any] | None = _json("Limits for its runs (over the sandbox's).")
    created_by: str | None = Field(default=None, sa_column_kwargs={"comment": "The user who registered it."})
    created_at: datetime | None = _ts("When this version was registered.", nullable=False)


class CodeExecution(SQLModel, table=True):
    """One run of code: where it ran, how it ended, what it cost (the quota sums cpu_s)."""

    __tablename__ = "code_execution"
    __table_args__ = (Index("ix_code_execution_workspace_started", "workspace_id", "started_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = Field(
        default=None, foreign_key="workspace.id", ondelete="CASCADE",
        sa_column_kwargs={"comment": "The workspace charged; NULL for local runs."},
    )  # fmt: skip
    user_id: str | None = Field(default=None, sa_column_kwargs={"comment": "Who asked (API); NULL from a workflow."})
    runtime: str = Field(sa_column_kwargs={"comment": "The runtime capability that ran it."})
    sandbox: str | None = Field(default=None, sa_column_kwargs={"comment": "The named sandbox, if one was used."})
    language: str
    code_sha256: str = Field(sa_column_kwargs={"comment": "Hash of the code (the code itself is not kept here)."})
    tool_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The tool version run, if any."})
    workflow_execution_id: str | None = Field(default=None, index=True, sa_column_kwargs={"comment": "The run."})
    node_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The workflow node, if any."})
    status: str = Field(sa_column_kwargs={"comment": "running|completed|failed|limit|error"})
    exit_code: int | None = None
    limit_hit: str | None = Field(default=None, sa_column_kwargs={"comment": "timeout|cpu|memory|output|processes"})
    error_type: str | None = None
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    stdout: str | None = Field(default=None, sa_column=Column(Text, nullable=True, comment="The first 16 KiB."))
    stderr: str | None = Field(default=None, sa_column=Column(Text, nullable=True, comment="The first 16 KiB."))
    duration_ms: float | None = None
    cpu_s: float = Field(default=0.0, sa_column_kwargs={"comment": "CPU seconds charged to the quota."})
    started_at: datetime | None = _ts("When the run started.", nullable=False)
    finished_at: datetime | None = _ts("When it ended; NULL while it runs.")


class CodeQuota(SQLModel, table=True):
    """A workspace's own CPU budget for code, overriding the server's default."""

    __tablename__ = "code_quota"

    workspace_id: str = Field(foreign_key="workspace.id", primary_key=True, ondelete="CASCADE")
    cpu_seconds_per_day: float = Field(sa_column_kwargs={"comment": "CPU seconds of code per UTC day."})
    updated_at: datetime | None = _ts("When it was set.", nullable=False)
