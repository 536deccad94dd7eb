"""copilot conversations, messages, actions, settings; workflow-scoped API keys; llm calls by conversation

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:08:12
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "copilot_conversation",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column(
            "workflow_id",
            sa.String(),
            nullable=True,
            comment="The workflow open beside the chat (the one edits and runs apply to); NULL for none.",
        ),
        sa.Column(
            "scope_workflow_id",
            sa.String(),
            nullable=True,
            comment="Set when a workflow-scoped API key started it: the only workflow it may touch.",
        ),
        sa.Column(
            "title", sa.String(length=200), nullable=False, comment="The first request, shortened, for the list."
        ),
        sa.Column(
            "mode",
            sa.String(length=16),
            nullable=False,
            comment="The last turn's mode: automation|agent|agent_flow|code.",
        ),
        sa.Column(
            "state", sa.JSON(), nullable=False, comment="The AG-UI state: proposal, pending actions, routing, mode."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflow.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("copilot_conversation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copilot_conversation_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_copilot_conversation_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_copilot_conversation_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "copilot_settings",
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column(
            "llm", sa.JSON(), nullable=False, comment="The copilot's LLM: {provider, model, config} (no secrets)."
        ),
        sa.Column(
            "secrets", sa.JSON(), nullable=False, comment="Workspace credentials granted to its LLM calls, by name."
        ),
        sa.Column(
            "code_runtime", sa.String(), nullable=True, comment="The code runtime code mode uses; NULL: the default."
        ),
        sa.Column("agent", sa.JSON(), nullable=True, comment="Agent modes: routing hints, framework, budget."),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id"),
    )
    op.create_table(
        "copilot_action",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("tool_call_id", sa.String(), nullable=True, comment="The model's call that proposed it."),
        sa.Column(
            "kind",
            sa.String(length=32),
            nullable=False,
            comment="save_workflow|run_workflow|create_schedule|create_webhook|run_code|run_agent",
        ),
        sa.Column("summary", sa.Text(), nullable=False, comment="What confirming it does, for the person deciding."),
        sa.Column(
            "payload", sa.JSON(), nullable=False, comment="What it acts on: a workflow, a run's input, code, a task."
        ),
        sa.Column(
            "needs_role", sa.String(length=16), nullable=False, comment="The role the confirming user must have."
        ),
        sa.Column("status", sa.String(length=16), nullable=False, comment="pending|rejected|done|failed"),
        sa.Column(
            "result", sa.JSON(), nullable=True, comment="What confirming it did: a saved version, a run, an error."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decided_by", sa.String(), nullable=True, comment="The user who confirmed or rejected it; never the model."
        ),
        sa.ForeignKeyConstraint(["conversation_id"], ["copilot_conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["user_account.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("copilot_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copilot_action_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index("ix_copilot_action_pending", ["conversation_id", "status"], unique=False)

    op.create_table(
        "copilot_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="Order within the conversation."),
        sa.Column("run_id", sa.String(), nullable=False, comment="The AG-UI run (one request) that wrote it."),
        sa.Column(
            "role",
            sa.String(length=16),
            nullable=False,
            comment="user|assistant|tool, or note: what the platform tells the model (an action's outcome).",
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column(
            "tool_calls", sa.JSON(), nullable=True, comment="An assistant message's calls: [{id, name, arguments}]."
        ),
        sa.Column("tool_call_id", sa.String(), nullable=True, comment="A tool message: the call it answers."),
        sa.Column("name", sa.String(length=64), nullable=True, comment="A tool message: the tool."),
        sa.Column(
            "data", sa.JSON(), nullable=True, comment="Structured result for the chat's cards (a tool's, a note's)."
        ),
        sa.Column("mode", sa.String(length=16), nullable=True, comment="The mode of the turn that wrote it."),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["copilot_conversation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_copilot_message_seq"),
    )
    with op.batch_alter_table("copilot_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copilot_message_conversation_id"), ["conversation_id"], unique=False)

    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "workflow_id",
                sa.String(),
                nullable=True,
                comment="Set: the key may only chat about this one workflow (an embedded copilot).",
            )
        )
        batch_op.create_foreign_key("fk_api_key_workflow_id", "workflow", ["workflow_id"], ["id"], ondelete="CASCADE")

    with op.batch_alter_table("llm_call", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("conversation_id", sa.String(), nullable=True, comment="The copilot conversation, if any.")
        )
        batch_op.create_index(batch_op.f("ix_llm_call_conversation_id"), ["conversation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("llm_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_call_conversation_id"))
        batch_op.drop_column("conversation_id")

    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_key_workflow_id", type_="foreignkey")
        batch_op.drop_column("workflow_id")

    with op.batch_alter_table("copilot_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copilot_message_conversation_id"))

    op.drop_table("copilot_message")
    with op.batch_alter_table("copilot_action", schema=None) as batch_op:
        batch_op.drop_index("ix_copilot_action_pending")
        batch_op.drop_index(batch_op.f("ix_copilot_action_conversation_id"))

    op.drop_table("copilot_action")
    op.drop_table("copilot_settings")
    with op.batch_alter_table("copilot_conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copilot_conversation_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_copilot_conversation_user_id"))
        batch_op.drop_index(batch_op.f("ix_copilot_conversation_updated_at"))

    op.drop_table("copilot_conversation")
