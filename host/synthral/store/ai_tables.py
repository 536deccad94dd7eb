"""The AI tables: LLM calls with their cost, agent tasks and their steps, live step events, MCP tools.

Declared with SQLAlchemy Core on the same metadata as every other table, so migrations and
``create_all`` see them. Columns carry comments on their meaning.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from synthral.store.tables import UTCDateTime, metadata

__all__ = ["AGENT_TASK", "AGENT_TASK_LOG", "LLM_CALL", "MCP_TOOL", "STEP_EVENT", "AgentTaskStatus"]


class AgentTaskStatus:
    """Where an agent task is. Terminal: completed, failed, budget_exceeded, cancelled."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    BUDGET_EXCEEDED = "budget_exceeded"
    CANCELLED = "cancelled"
    TERMINAL = frozenset({COMPLETED, FAILED, BUDGET_EXCEEDED, CANCELLED})


LLM_CALL = Table(
    "llm_call",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace_id", String, nullable=True, index=True, comment="The workspace billed; NULL locally."),
    Column("execution_id", String, nullable=True, index=True, comment="The run whose step made the call, if any."),
    Column("node_id", String, nullable=True, comment="The step's node."),
    Column("agent_task_id", String, nullable=True, index=True, comment="The agent task that made the call, if any."),
    Column("conversation_id", String, nullable=True, index=True, comment="The copilot conversation, if any."),
    Column("provider", String, nullable=False, comment="The provider capability, 'plugin/capability'."),
    Column("model", String, nullable=False, comment="The model the provider reported."),
    Column("tokens_input", Integer, nullable=False, default=0, comment="Prompt tokens."),
    Column("tokens_output", Integer, nullable=False, default=0, comment="Completion tokens."),
    Column("usd_cost", Float, nullable=True, comment="Cost by the price table; NULL when the model has no price."),
    Column("latency_ms", Float, nullable=False, comment="Wall time of the call, retries included."),
    Column("attempts", Integer, nullable=False, default=1, comment="HTTP attempts the provider made."),
    Column("status", String(16), nullable=False, comment="ok|error|replayed"),
    Column("error_type", String, nullable=True, comment="The error's type when status is error."),
    Column("created_at", UTCDateTime(), nullable=False, index=True, comment="When the call ended."),
)

AGENT_TASK = Table(
    "agent_task",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, nullable=True, index=True, comment="The workspace it runs in; NULL locally."),
    Column("execution_id", String, nullable=True, index=True, comment="The run whose agent step it is."),
    Column("node_id", String, nullable=True, comment="The agent step's node."),
    Column(
        "idempotency_key",
        String,
        nullable=False,
        unique=True,
        comment="execution/node/iteration of the step: a resumed step finds its task by it.",
    ),
    Column("agent_framework", String, nullable=False, comment="The framework capability that runs it, 'plugin/cap'."),
    Column("task_type", String(32), nullable=False, comment="The style the router matched: simple, recursive..."),
    Column("status", String(16), nullable=False, index=True, comment="running|completed|failed|budget_exceeded|..."),
    Column("input_data", JSON, nullable=False, comment="The task, its inputs, tools granted and budget."),
    Column("output_data", JSON, nullable=True, comment="The agent's result."),
    Column("routing", JSON, nullable=False, comment="The router's decision: framework, reason, candidates, override."),
    Column("usage", JSON, nullable=True, comment="Steps, tokens and cost spent so far."),
    Column("attempts", Integer, nullable=False, default=1, comment="Attempts of the step that ran the task."),
    Column("started_at", UTCDateTime(), nullable=False, comment="When the first attempt started."),
    Column("completed_at", UTCDateTime(), nullable=True, comment="When it reached a terminal status."),
    Column("error_type", String, nullable=True),
    Column("error_message", Text, nullable=True),
)

AGENT_TASK_LOG = Table(
    "agent_task_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String, ForeignKey("agent_task.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("seq", Integer, nullable=False, comment="Order within the task, over all its attempts."),
    Column("attempt", Integer, nullable=False, comment="The step attempt that wrote it."),
    Column(
        "kind",
        String(24),
        nullable=False,
        comment="route|llm_call|tool_call|tool_result|tool_denied|thought|plan|check|message|budget|error",
    ),
    Column("level", String(16), nullable=False, default="info"),
    Column("message", Text, nullable=False, comment="A line for people, secrets masked."),
    Column(
        "data",
        JSON,
        nullable=True,
        comment="What a resumed attempt replays: an LLM call's request hash and result, a tool call and its result.",
    ),
    Column("timestamp", UTCDateTime(), nullable=False),
    UniqueConstraint("task_id", "seq", name="uq_agent_task_log_seq"),
)

STEP_EVENT = Table(
    "step_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "execution_id",
        String,
        ForeignKey("workflow_execution.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("node_id", String, nullable=False),
    Column("kind", String(64), nullable=False, comment="Dotted: llm.token, agent.step, progress..."),
    Column("data", JSON, nullable=False, comment="The event's payload; tokens arriving together are joined."),
    Column("created_at", UTCDateTime(), nullable=False),
)

MCP_TOOL = Table(
    "mcp_tool",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, ForeignKey("workspace.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("workflow_id", String, ForeignKey("workflow.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("tool_name", String(64), nullable=False, comment="The name MCP clients call it by."),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("uq_mcp_tool_name", "workspace_id", "tool_name", unique=True),
)
