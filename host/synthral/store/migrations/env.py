"""Alembic environment: migrations run on the connection the host hands in."""

from __future__ import annotations

from alembic import context

from synthral.store.tables import metadata as target_metadata


def run() -> None:
    """Run the migrations on the connection in ``config.attributes``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through synthral.store.db.Database.migrate()")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
