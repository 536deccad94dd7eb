"""Plugin upgrades applied to saved workflows: the pin each one replaced, so a rollback restores it.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module. Written only by :mod:`synthral.services.plugin_pins`.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table

from synthral.store.tables import UTCDateTime, metadata

__all__ = ["PLUGIN_UPGRADE"]

PLUGIN_UPGRADE = Table(
    "plugin_upgrade",
    metadata,
    Column("id", String, primary_key=True),
    Column("batch_id", String, nullable=False, comment="One apply: every workflow it re-pinned shares it."),
    Column("plugin", String, nullable=False, comment="The plugin re-pinned."),
    Column(
        "workflow_id",
        String,
        ForeignKey("workflow.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="The workflow re-pinned.",
    ),
    Column("workspace_id", String, nullable=True, comment="The workflow's workspace; NULL for a local one."),
    Column("from_version", String, nullable=False, comment="The plugin version pinned before; a rollback restores it."),
    Column("to_version", String, nullable=False, comment="The plugin version pinned by the apply."),
    Column("workflow_version_before", Integer, nullable=False, comment="The workflow's latest version before."),
    Column("workflow_version_after", Integer, nullable=False, comment="The workflow version the apply saved."),
    Column("accepted_changes", Boolean, nullable=False, comment="Applied although the check was not clean."),
    Column("summary", JSON, nullable=False, comment="The check's counts: identical, changed, failing, incompatible."),
    Column("applied_by", String, nullable=True, comment="Who applied it (server mode); NULL locally."),
    Column("applied_at", UTCDateTime(), nullable=False, comment="When it was applied."),
    Column("rolled_back_at", UTCDateTime(), nullable=True, comment="When it was rolled back; NULL means in force."),
    Column(
        "rollback_version",
        Integer,
        nullable=True,
        comment="The workflow version the rollback saved; NULL until rolled back.",
    ),
    Index("ix_plugin_upgrade_plugin", "plugin", "applied_at"),
)
"""One workflow re-pinned to a new plugin version by an upgrade."""
