"""Alembic environment: migrations run on the connection the host hands in."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import synthral.store.audit_tables  # registers the audit log
import synthral.store.code  # registers the code tables on SQLModel.metadata
import synthral.store.copilot_tables  # the copilot tables
import synthral.store.desktop_tables  # and the desktop's watched folders
import synthral.store.models
import synthral.store.ocr_models
import synthral.store.rag_tables
import synthral.store.web  # noqa: F401 -- and the OCR, retrieval and web tables

target_metadata = SQLModel.metadata


def run() -> None:
    """Run the migrations on the connection in ``config.attributes``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through synthral.store.db.Database.migrate()")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
