"""The migrations build exactly the tables the models declare, on both backends."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from synthral.store.audit_tables import AUDIT_EVENT
from synthral.store.db import MIGRATIONS, Database, _at_head, _run_migrations, head_revision
from synthral.store.tables import metadata, utcnow


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


def _sqlite_schema(path: Path) -> dict[tuple[str, str], object]:
    """Every table (columns by name, keys, indexes), index and trigger of a SQLite file."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        shape: dict[tuple[str, str], object] = {}
        objects = connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        for kind, name, sql in objects:
            if kind == "table":
                columns = sorted(tuple(row[1:]) for row in connection.execute(f"PRAGMA table_info('{name}')"))
                keys = sorted(tuple(row[2:]) for row in connection.execute(f"PRAGMA foreign_key_list('{name}')"))
                indexes = sorted(
                    (row[2], row[3], row[4], tuple(c[2] for c in connection.execute(f"PRAGMA index_info('{row[1]}')")))
                    for row in connection.execute(f"PRAGMA index_list('{name}')")
                )
                shape[(kind, name)] = (columns, keys, indexes)
            elif kind == "index":
                shape[(kind, name)] = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None  # partial or not
            else:
                shape[(kind, name)] = sql
        shape[("row", "alembic_version")] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        return shape


async def test_a_new_sqlite_file_is_made_from_the_models_with_the_schema_the_migrations_make(tmp_path: Path) -> None:
    """A new file skips the migrations; what it gets equals what they make, down to triggers and partial indexes."""
    made, migrated = (
        Database(f"sqlite+aiosqlite:///{tmp_path / 'made.db'}"),
        Database(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"),
    )
    try:
        await made.migrate()
        async with migrated.transaction() as connection:
            await connection.run_sync(_run_migrations)
        new, old = _sqlite_schema(tmp_path / "made.db"), _sqlite_schema(tmp_path / "migrated.db")
        assert new.keys() == old.keys()
        assert [key for key in new if new[key] != old[key]] == []
        assert new[("row", "alembic_version")] == [(head_revision(),)]
        async with made.transaction() as connection:
            await connection.execute(
                insert(AUDIT_EVENT).values(
                    at=utcnow(), actor_kind="system", action="test", outcome="success", details={},
                    prev_hash="0" * 64, hash="1" * 64,
                )
            )  # fmt: skip
        with pytest.raises(IntegrityError, match="append-only"):
            async with made.transaction() as connection:
                await connection.execute(update(AUDIT_EVENT).values(action="rewritten"))
        await made.migrate()  # current: nothing to do
    finally:
        await made.close()
        await migrated.close()
