"""The migrations build exactly the tables the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from synthral.store.db import Database
from synthral.store.tables import metadata


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with database.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], "a model changed without a migration; generate one (docs/operations.md)"


async def test_migrating_twice_is_harmless(database: Database) -> None:
    await database.migrate()
    await database.migrate()
