"""The migrations build exactly the tables the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from synthral.store.db import MIGRATIONS, Database, _at_head, head_revision
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


def test_the_head_read_from_file_names_is_alembics_head() -> None:
    """Starts skip Alembic when the schema is current; that check reads the head from the files."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


async def test_a_current_schema_is_recognised_and_an_older_one_is_not(database: Database) -> None:
    await database.migrate()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_at_head)
    async with database.transaction() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    async with database.engine.connect() as connection:
        assert not await connection.run_sync(_at_head)
    async with database.transaction() as connection:
        await connection.execute(text(f"UPDATE alembic_version SET version_num = '{head_revision()}'"))
