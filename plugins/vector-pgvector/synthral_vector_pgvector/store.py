"""The ``pgvector`` vector store: one table per collection in PostgreSQL with the pgvector extension.

Each table holds ``id``, ``embedding vector(N)`` with an HNSW index (cosine), ``text`` and
``metadata jsonb`` with a GIN index. Equality filters are JSON containment (``metadata @>
'{"lang": "en"}'``); a filtered query searches exactly among the matching rows (HNSW would
filter after taking its candidates and could return fewer than ``top_k``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import (
    Context,
    CountRequest,
    CountResult,
    DeleteRequest,
    DeleteResult,
    QueryMatch,
    QueryRequest,
    QueryResult,
    UpsertRequest,
    UpsertResult,
    VectorStore,
)
from synthral_sdk.errors import ConfigInvalid, InputInvalid, NonRetryableError, RetryableError

__all__ = ["PgVectorConfig", "PgVectorStore", "table_name"]

_PREFIX = "synthral_vec_"


class PgVectorConfig(BaseModel):
    """The database."""

    model_config = ConfigDict(extra="forbid")

    dsn: str = Field(
        description="A libpq connection string or URL without the password, e.g. "
        "'postgresql://rag@db:5432/vectors'; the password is the secret 'password'."
    )
    schema_name: str = Field(
        default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="The schema of the tables."
    )
    ef_search: int = Field(default=100, ge=1, le=1000, description="HNSW candidates per query (recall vs speed).")
    pool_size: int = Field(default=4, ge=1, le=64)


def table_name(collection: str) -> str:
    """The table of a collection (PostgreSQL folds and caps names; collections are ASCII)."""
    return (_PREFIX + collection.lower())[:63]


def containment(where: Mapping[str, object] | None) -> tuple[sql.Composable, list[Any]]:
    """The WHERE clause of an equality filter (lists: any of) on the metadata column."""
    if not where:
        return sql.SQL("TRUE"), []
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for key, wanted in where.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values:
            return sql.SQL("FALSE"), []
        ors = []
        for value in values:
            ors.append(sql.SQL("metadata @> %s"))
            params.append(Jsonb({key: value}))
        parts.append(sql.SQL("(") + sql.SQL(" OR ").join(ors) + sql.SQL(")"))
    return sql.SQL(" AND ").join(parts), params


class _Pools:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str | None], ConnectionPool] = {}
        self.ready: set[str] = set()

    def get(self, config: PgVectorConfig, context: Context) -> ConnectionPool:
        if re.search(r"password\s*=\s*\S|://[^/@:]*:[^/@]+@", config.dsn):
            raise ConfigInvalid(
                "config field 'dsn' carries a password; remove it from the DSN and grant it as the secret 'password'",
                details={"field": "dsn"},
            )
        password = context.secrets.get("password")
        key = (config.dsn, password)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                kwargs: dict[str, Any] = {"password": password} if password else {}
                pool = ConnectionPool(
                    config.dsn, min_size=1, max_size=config.pool_size, kwargs=kwargs, configure=_configure, open=False
                )
                try:
                    pool.open(wait=True, timeout=15)
                except psycopg.pool.PoolTimeout as exc:  # type: ignore[attr-defined]
                    raise RetryableError(f"PostgreSQL at {config.dsn} cannot be reached ({exc}); check 'dsn'") from None
                self._pools[key] = pool
            return pool


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    connection.commit()
    register_vector(connection)


_pools = _Pools()


class PgVectorStore(VectorStore[PgVectorConfig]):
    """pgvector: vectors next to the rest of a team's data, in the PostgreSQL it already runs."""

    name = "pgvector"
    title = "PostgreSQL + pgvector"
    features = ("filter", "ann")
    secrets = ("password",)

    def _run(self, config: PgVectorConfig, context: Context, action: Any) -> Any:
        pool = _pools.get(config, context)
        try:
            with pool.connection() as connection:
                return action(connection)
        except psycopg.OperationalError as exc:
            raise RetryableError(f"PostgreSQL at {config.dsn} failed: {str(exc)[:300]}") from None
        except psycopg.errors.UndefinedFile as exc:
            raise NonRetryableError(
                f"the pgvector extension is not installed in PostgreSQL at {config.dsn} ({exc}); install it "
                "(e.g. the postgresql-16-pgvector package) or use another store"
            ) from None

    def _table(self, config: PgVectorConfig, collection: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(config.schema_name), sql.Identifier(table_name(collection)))

    def _dims(self, connection: psycopg.Connection[Any], config: PgVectorConfig, collection: str) -> int | None:
        row = connection.execute(
            "SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attname = 'embedding'",
            (config.schema_name, table_name(collection)),
        ).fetchone()
        return None if row is None else int(row[0])

    def upsert(self, request: UpsertRequest, config: PgVectorConfig, context: Context) -> UpsertResult:
        """Create the table and its indexes on first write, then insert or update by id."""
        if not request.records:
            return UpsertResult(upserted=0)
        records = list({r.id: r for r in request.records}.values())
        table = self._table(config, request.collection)

        def write(connection: psycopg.Connection[Any]) -> None:
            with connection.transaction():
                # One writer creates a collection's table at a time.
                connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table_name(request.collection),))
                known = self._dims(connection, config, request.collection)
                dims = self.check_vectors(request.collection, [r.vector for r in records], known)
                if known is None:
                    name = table_name(request.collection)
                    connection.execute(
                        sql.SQL(
                            "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}) NOT NULL, text text, "
                            "metadata jsonb NOT NULL DEFAULT '{{}}')"
                        ).format(table, sql.Literal(dims))
                    )
                    connection.execute(
                        sql.SQL("CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops)").format(
                            sql.Identifier(name[:55] + "_hnsw"), table
                        )
                    )
                    connection.execute(
                        sql.SQL("CREATE INDEX {} ON {} USING gin (metadata jsonb_path_ops)").format(
                            sql.Identifier(name[:55] + "_meta"), table
                        )
                    )
                with connection.cursor() as cursor:
                    cursor.executemany(
                        sql.SQL(
                            "INSERT INTO {} (id, embedding, text, metadata) VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, text = EXCLUDED.text, "
                            "metadata = EXCLUDED.metadata"
                        ).format(table),
                        [(r.id, _vector(r.vector), r.text, Jsonb(r.metadata)) for r in records],
                    )

        self._run(config, context, write)
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: PgVectorConfig, context: Context) -> QueryResult:
        """HNSW search; exact search among the matching rows when filtered."""

        def search(connection: psycopg.Connection[Any]) -> QueryResult:
            dims = self._dims(connection, config, request.collection)
            if dims is None:
                return QueryResult(matches=[])
            if len(request.vector) != dims:
                raise self.dimension_error(request.collection, dims, len(request.vector))
            clause, params = containment(request.filter)
            vector = _vector(request.vector)
            with connection.transaction():
                connection.execute(
                    sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(max(config.ef_search, request.top_k)))
                )
                if request.filter:
                    connection.execute("SET LOCAL enable_indexscan = off")  # exact among matches; GIN still used
                rows = connection.execute(
                    sql.SQL(
                        "SELECT id, text, metadata, 1 - (embedding <=> %s) AS score FROM {} WHERE {} "
                        "ORDER BY embedding <=> %s LIMIT %s"
                    ).format(self._table(config, request.collection), clause),
                    [vector, *params, vector, request.top_k],
                ).fetchall()
            return QueryResult(
                matches=[
                    QueryMatch(id=row[0], text=row[1], metadata=_json(row[2]), score=float(row[3])) for row in rows
                ]
            )

        result: QueryResult = self._run(config, context, search)
        return result

    def delete(self, request: DeleteRequest, config: PgVectorConfig, context: Context) -> DeleteResult:
        """Delete by ids and/or filter."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")

        def remove(connection: psycopg.Connection[Any]) -> int:
            if self._dims(connection, config, request.collection) is None or request.ids == []:
                return 0
            clause, params = containment(request.filter)
            if request.ids is not None:
                clause = clause + sql.SQL(" AND id = ANY(%s)")
                params.append(request.ids)
            with connection.transaction():
                cursor = connection.execute(
                    sql.SQL("DELETE FROM {} WHERE {}").format(self._table(config, request.collection), clause), params
                )
                return int(cursor.rowcount)

        return DeleteResult(deleted=self._run(config, context, remove))

    def count(self, request: CountRequest, config: PgVectorConfig, context: Context) -> CountResult:
        """Rows of the collection's table (matching the filter)."""

        def tally(connection: psycopg.Connection[Any]) -> CountResult:
            dims = self._dims(connection, config, request.collection)
            if dims is None:
                return CountResult(count=0)
            clause, params = containment(request.filter)
            row = connection.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._table(config, request.collection), clause),
                params,
            ).fetchone()
            return CountResult(count=int(row[0]) if row else 0, dimensions=dims)

        result: CountResult = self._run(config, context, tally)
        return result


def _vector(values: list[float]) -> Any:
    import numpy as np  # noqa: PLC0415 -- pgvector's adapter takes numpy arrays

    return np.asarray(values, dtype=np.float32)


def _json(value: object) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return dict(json.loads(str(value))) if value else {}
