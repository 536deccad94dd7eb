"""The database: SQLite (embedded default) or PostgreSQL, one async API, migrations on open.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed transaction survives power
loss), foreign keys on, incremental auto-vacuum, and every transaction starting with
``BEGIN IMMEDIATE`` so that several processes writing one file wait for each other instead
of failing on a lock upgrade. PostgreSQL runs through asyncpg.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy import Engine, Table, create_engine, event, inspect, make_url, select, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from synthral.config import Settings
from synthral.errors import ConfigurationError, DatabaseUnavailable
from synthral.security.files import create_private_file
from synthral.store.changes import Changes
from synthral.store.outage import unavailable

__all__ = ["Database", "database_file", "database_location", "database_url"]

T = TypeVar("T")

MIGRATIONS: Final = Path(__file__).parent / "migrations"


def database_url(settings: Settings) -> str:
    """``SYNTHRAL_DATABASE_URL`` (``settings.engine.database_url``), else the SQLite file ``<home>/synthral.db``."""
    url = settings.engine.database_url
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url
    return f"sqlite+aiosqlite:///{settings.home / 'synthral.db'}"


def database_file(url: str) -> Path | None:
    """The SQLite file a URL names; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def database_location(url: str) -> str:
    """A database URL for messages: the SQLite file, or PostgreSQL's host and database, never a password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return f"the PostgreSQL database {parsed.database} on {parsed.host}:{parsed.port or 5432}"
    return f"the database {parsed.database}"


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    # The driver must not open transactions itself: we send BEGIN IMMEDIATE (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect only on a new file
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Writers take the write lock up front, so two writers wait for each other instead of one
    # failing on a lock upgrade; readers start deferred and never block anybody (WAL).
    write = connection.get_execution_options().get("synthral_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """One database, whichever backend.

    Args:
        url: A SQLAlchemy URL: ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://...``.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.sqlite_path: Path | None = None
        if url.startswith("sqlite"):
            self.dialect = "sqlite"
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                self.sqlite_path = Path(path)
                create_private_file(self.sqlite_path)  # SQLite gives -wal and -shm the same mode
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            # The hot write path: one thread and one connection of the standard sqlite3 driver,
            # so a whole transaction costs one thread hop instead of one per statement.
            sync_url = url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1)
            self._writer_engine: Engine | None = create_engine(
                sync_url, poolclass=StaticPool, connect_args={"timeout": 30, "check_same_thread": False}
            )
            event.listen(self._writer_engine, "connect", _sqlite_pragmas)
            event.listen(self._writer_engine, "begin", _sqlite_begin)
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthral-sqlite-writer")
            self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        elif url.startswith("postgresql"):
            self.dialect = "postgresql"
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
            self._writer_engine = None
            self._turns = None
        else:
            raise ConfigurationError(
                f"unsupported database URL {url.split('://', maxsplit=1)[0]}://...; use sqlite+aiosqlite:///PATH or "
                "postgresql+asyncpg://USER:PASSWORD@HOST/DB (SYNTHRAL_DATABASE_URL)"
            )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.changes = Changes()
        """This process's committed changes, for loops that wait for work instead of polling."""
        self._merges: dict[tuple[str, tuple[str, ...], bool], PgInsert | SqliteInsert] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database the settings point at."""
        return cls(database_url(settings))

    @property
    def location(self) -> str:
        """Where the database is, for messages: the SQLite file, or PostgreSQL's host and database (no password)."""
        return database_location(self.url)

    def unavailable(self, error: BaseException) -> DatabaseUnavailable | None:
        """The outage ``error`` stands for (unreachable, full, read-only…), naming this database; else None."""
        return unavailable(error, self.location, path=database_file(self.url))

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (row locks with SKIP LOCKED, LISTEN/NOTIFY)."""
        return self.dialect == "postgresql"

    def insert(self, table: Table) -> PgInsert | SqliteInsert:
        """An INSERT that supports ``on_conflict_do_nothing/do_update`` on this backend."""
        return pg_insert(table) if self.is_postgres else sqlite_insert(table)

    def merge(self, table: Table, keys: tuple[str, ...], *, replace: bool = True) -> PgInsert | SqliteInsert:
        """A reusable INSERT ... ON CONFLICT (keys) DO UPDATE (or DO NOTHING), executed with parameters.

        Built once per table and keys: constructing a statement costs several times more
        than executing a cached one, and this is on every step's path.
        """
        cache_key = (table.name, keys, replace)
        statement = self._merges.get(cache_key)
        if statement is None:
            base = self.insert(table)
            if replace:
                updates = {c.name: base.excluded[c.name] for c in table.columns if c.name not in keys}
                statement = base.on_conflict_do_update(index_elements=list(keys), set_=updates)
            else:
                statement = base.on_conflict_do_nothing(index_elements=list(keys))
            self._merges[cache_key] = statement
        return statement

    def insert_new(self, connection: Connection, table: Table, rows: list[dict[str, Any]]) -> set[Any]:
        """Insert the rows whose primary key is not taken yet (in a write transaction); their keys.

        Rows must share their columns and have distinct keys. On PostgreSQL this is one
        ``INSERT … ON CONFLICT DO NOTHING RETURNING``. On SQLite the write transaction holds
        the file's lock, so the keys already taken are read first and the rest go to one
        plain ``executemany``, where a multi-row insert with ``RETURNING`` is rendered anew
        for every batch size.
        """
        if not rows:
            return set()
        (key,) = (column.name for column in table.primary_key.columns)
        if self.is_postgres:
            statement = self.merge(table, (key,), replace=False).returning(table.c[key])
            return set(connection.execute(statement, rows).scalars())
        keys = [row[key] for row in rows]
        taken: set[Any] = set()
        for start in range(0, len(keys), 500):  # SQLite allows a bounded number of parameters
            chunk = keys[start : start + 500]
            taken.update(connection.execute(select(table.c[key]).where(table.c[key].in_(chunk))).scalars())
        fresh = [row for row in rows if row[key] not in taken]
        if fresh:
            connection.execute(table.insert(), fresh)
        return {row[key] for row in fresh}

    async def write(self, fn: Callable[[Connection], T], *, after_commit: Callable[[], None] | None = None) -> T:
        """Run ``fn(connection)`` in one write transaction and return its result.

        The function is synchronous: on SQLite it runs whole in the writer thread; on
        PostgreSQL through SQLAlchemy's ``run_sync`` on an asyncpg connection.
        ``after_commit`` runs once the transaction has committed, even if the awaiting task
        was cancelled meanwhile (the transaction then still completes).
        """
        if self._writer_engine is None:
            async with self.transaction() as connection:
                result = await connection.run_sync(fn)
            if after_commit is not None:
                after_commit()
            return result
        engine = self._writer_engine

        def in_thread() -> tuple[T, bool]:
            with engine.connect() as raw:
                connection = raw.execution_options(synthral_write=True)
                driver: Any = raw.connection.driver_connection  # the writer thread's own sqlite3 connection
                before = driver.total_changes
                with connection.begin():
                    value = fn(connection)
                changed = driver.total_changes != before
            if after_commit is not None:
                after_commit()
            return value, changed

        async with self._turn():
            future = asyncio.get_running_loop().run_in_executor(self._writer, in_thread)
            try:
                value, changed = await asyncio.shield(future)
            except asyncio.CancelledError:
                while not future.done():  # the transaction finishes either way: wait for its outcome
                    try:
                        await asyncio.wait([future])
                    except asyncio.CancelledError:
                        continue
                if not future.cancelled() and future.exception() is None and future.result()[1]:
                    self.changes.committed()
                raise
        if changed:
            self.changes.committed()
        return value

    def _turn(self) -> AbstractAsyncContextManager[object]:
        """This process's writers take turns on SQLite, first come first served.

        SQLite's own lock is not a queue: a writer that finds it taken sleeps and retries
        (up to 100 ms a try), so a steady stream of short transactions from one connection
        can keep another waiting for hundreds of milliseconds. Queueing in the event loop
        first leaves the file lock to arbitrate between processes only.
        """
        if self._writer_engine is None:
            return nullcontext()
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Lock())
        return self._turns[1]

    async def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent; safe with several processes)."""
        async with self.transaction() as connection:
            await connection.run_sync(_upgrade)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction: committed on success, rolled back on error."""
        async with self._turn(), self.engine.connect() as connection:
            await connection.execution_options(synthral_write=True)
            counted = None
            if self._writer_engine is not None:  # SQLite: the connection counts the rows it changed
                counted = (await connection.get_raw_connection()).driver_connection
            before = counted.total_changes if counted is not None else -1
            async with connection.begin():
                yield connection
            changed = counted is None or counted.total_changes != before
        if changed:
            self.changes.committed()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """An ORM session in a transaction."""
        async with self.sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._writer_engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._writer_engine.dispose)
            self._writer.shutdown(wait=True)


def head_revision() -> str:
    """The newest migration's revision: migrations are numbered, and a file's number is its revision."""
    return max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _create_new(connection: Connection) -> None:
    """A new SQLite file: the schema made from the models at once and stamped at the newest migration.

    A quarter of the time of running every migration (and Alembic is not loaded), which a new
    desktop user waits for at the first start. The tests hold the two schemas equal, table by
    table, index by index and trigger by trigger. The write transaction makes a second process
    starting beside this one wait, then find the schema current. PostgreSQL always migrates.
    """
    from synthral.store.audit_tables import SQLITE_APPEND_ONLY  # noqa: PLC0415 -- the models, only now
    from synthral.store.tables import metadata  # noqa: PLC0415

    metadata.create_all(connection, checkfirst=False)  # the file holds no table
    for statement in SQLITE_APPEND_ONLY:
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head_revision()})


def _at_head(connection: Connection) -> bool:
    """Whether the schema is at the newest migration (one read; Alembic is not loaded for it)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    current = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return current == [head_revision()]


def _upgrade(connection: Connection) -> None:
    if _at_head(connection):
        return  # every start but the first after an upgrade: no need to load Alembic
    if connection.dialect.name == "sqlite" and not inspect(connection).get_table_names():
        _create_new(connection)
    else:
        _run_migrations(connection)


def _run_migrations(connection: Connection) -> None:
    """Run every migration the schema lacks, with Alembic."""
    from alembic import command  # noqa: PLC0415 -- loaded only when there is something to migrate
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if connection.dialect.name == "postgresql":
        # One migrator at a time when several processes start together.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7240521)")
    command.upgrade(config, "head")
