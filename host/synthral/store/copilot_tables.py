"""The copilot's tables: conversations, their messages, the actions they propose, workspace settings.

Declared with SQLAlchemy Core on the same metadata as every other table. A conversation
belongs to one user in one workspace; its messages are the record the model is given
again on the next turn (a restarted server resumes it from here); an action is something
the copilot proposed that only the user can confirm.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from synthral.store.tables import UTCDateTime, metadata

__all__ = ["COPILOT_ACTION", "COPILOT_CONVERSATION", "COPILOT_MESSAGE", "COPILOT_SETTINGS", "ActionStatus"]


class ActionStatus:
    """Where a proposed action is. Only ``pending`` ones can be decided."""

    PENDING = "pending"
    REJECTED = "rejected"
    DONE = "done"
    FAILED = "failed"
    APPLIED = "applied"
    """Taken into the builder's canvas by the user, unsaved (an edit of the open workflow)."""
    DECIDED = frozenset({REJECTED, DONE, FAILED, APPLIED})


COPILOT_CONVERSATION = Table(
    "copilot_conversation",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, ForeignKey("workspace.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("user_id", String, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True),
    Column(
        "workflow_id",
        String,
        ForeignKey("workflow.id", ondelete="SET NULL"),
        nullable=True,
        comment="The workflow open beside the chat (the one edits and runs apply to); NULL for none.",
    ),
    Column(
        "scope_workflow_id",
        String,
        nullable=True,
        comment="Set when a workflow-scoped API key started it: the only workflow it may touch.",
    ),
    Column("title", String(200), nullable=False, comment="The first request, shortened, for the list."),
    Column("mode", String(16), nullable=False, comment="The last turn's mode: automation|agent|agent_flow|code."),
    Column("state", JSON, nullable=False, comment="The AG-UI state: proposal, pending actions, routing, mode."),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False, index=True),
)

COPILOT_MESSAGE = Table(
    "copilot_message",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        String,
        ForeignKey("copilot_conversation.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("seq", Integer, nullable=False, comment="Order within the conversation."),
    Column("run_id", String, nullable=False, comment="The AG-UI run (one request) that wrote it."),
    Column(
        "role",
        String(16),
        nullable=False,
        comment="user|assistant|tool, or note: what the platform tells the model (an action's outcome).",
    ),
    Column("content", Text, nullable=False, default=""),
    Column("tool_calls", JSON, nullable=True, comment="An assistant message's calls: [{id, name, arguments}]."),
    Column("tool_call_id", String, nullable=True, comment="A tool message: the call it answers."),
    Column("name", String(64), nullable=True, comment="A tool message: the tool."),
    Column("data", JSON, nullable=True, comment="Structured result for the chat's cards (a tool's, a note's)."),
    Column("mode", String(16), nullable=True, comment="The mode of the turn that wrote it."),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("conversation_id", "seq", name="uq_copilot_message_seq"),
)

COPILOT_ACTION = Table(
    "copilot_action",
    metadata,
    Column("id", String, primary_key=True),
    Column(
        "conversation_id",
        String,
        ForeignKey("copilot_conversation.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("tool_call_id", String, nullable=True, comment="The model's call that proposed it."),
    Column(
        "kind",
        String(32),
        nullable=False,
        comment="save_workflow|run_workflow|create_schedule|create_webhook|run_code|run_agent",
    ),
    Column("summary", Text, nullable=False, comment="What confirming it does, for the person deciding."),
    Column("payload", JSON, nullable=False, comment="What it acts on: a workflow, a run's input, code, a task."),
    Column("needs_role", String(16), nullable=False, comment="The role the confirming user must have."),
    Column("status", String(16), nullable=False, comment="pending|rejected|done|failed"),
    Column("result", JSON, nullable=True, comment="What confirming it did: a saved version, a run, an error."),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column(
        "decided_by",
        String,
        ForeignKey("user_account.id", ondelete="SET NULL"),
        nullable=True,
        comment="The user who confirmed or rejected it; never the model.",
    ),
    Index("ix_copilot_action_pending", "conversation_id", "status"),
)

COPILOT_SETTINGS = Table(
    "copilot_settings",
    metadata,
    Column("workspace_id", String, ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True),
    Column("llm", JSON, nullable=False, comment="The copilot's LLM: {provider, model, config} (no secrets)."),
    Column("secrets", JSON, nullable=False, comment="Workspace credentials granted to its LLM calls, by name."),
    Column("code_runtime", String, nullable=True, comment="The code runtime code mode uses; NULL: the default."),
    Column("agent", JSON, nullable=True, comment="Agent modes: routing hints, framework, budget."),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String, nullable=True),
)
