"""The ``pgvector`` vector store: one table per collection in PostgreSQL with the pgvector extension.

Each table holds ``id``, ``embedding vector(N)`` with an HNSW index (cosine), ``text`` and
``metadata jsonb`` with a GIN index. Equality filters are JSON containment (``metadata @>
'{"lang": "en"}'``); a filtered query searches exactly among the matching rows (HNSW would
filter after taking its candidates and could return fewer than ``top_k``).

Connections obey the call's network policy: libpq reaches each server of the DSN through a
loopback forward (``context.tcp_forward``) that belongs to the connection pool, so the plugin
runs in the host's OS sandbox.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Mapping
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout
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
from synthral_sdk.network import NetworkPolicy

__all__ = ["PgVectorConfig", "PgVectorStore", "close_pools", "table_name"]

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


class _Pool:
    """A connection pool and the loopback forwards its connections go through: opened together, closed together."""

    def __init__(self, pool: ConnectionPool, forwards: contextlib.ExitStack) -> None:
        self.pool, self.forwards = pool, forwards

    def close(self) -> None:
        try:
            self.pool.close()
        finally:
            self.forwards.close()


class _Pools:
    """The pools of this process, one per DSN, password and network policy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str | None, NetworkPolicy], _Pool] = {}

    def get(self, config: PgVectorConfig, context: Context) -> ConnectionPool:
        if re.search(r"password\s*=\s*\S|://[^/@:]*:[^/@]+@", config.dsn):
            raise ConfigInvalid(
                "config field 'dsn' carries a password; remove it from the DSN and grant it as the secret 'password'",
                details={"field": "dsn"},
            )
        password = context.secrets.get("password")
        # A pool's connections were let through by the policy of the call that opened it (and the
        # pool reconnects under it later): a call under another policy gets a pool of its own.
        key = (config.dsn, password, context.network)
        with self._lock:
            held = self._pools.get(key)
            if held is None:
                held = _open(config, password, context)
                self._pools[key] = held
            return held.pool

    def close(self) -> None:
        """Close every pool and its forwards."""
        with self._lock:
            held, self._pools = list(self._pools.values()), {}
        for pool in held:
            pool.close()


def _open(config: PgVectorConfig, password: str | None, context: Context) -> _Pool:
    """A pool whose connections reach the DSN's servers through the call's network policy.

    libpq connects by itself, so each server is reached through a loopback forward
    (``context.tcp_forward``): outside the OS sandbox the policy judges the address, inside it
    the host's egress proxy does. The forwards live as long as the pool (it reconnects through
    them) and are closed with it. ``host`` stays the server's name, so TLS
    (``sslmode=verify-full``) still checks the certificate against it.
    """
    try:
        params = conninfo_to_dict(config.dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigInvalid(
            f"config field 'dsn' does not parse: {str(exc).splitlines()[0]}", details={"field": "dsn"}
        ) from None
    targets = _servers(params)
    params["host"] = params.get("host") or params.get("hostaddr")  # the names TLS checks certificates against
    forwards = contextlib.ExitStack()
    try:
        try:
            local = [forwards.enter_context(context.tcp_forward(host, port)) for host, port in targets]
        except ConnectionError as exc:  # a refusal by the policy is EgressDenied, raised as it is
            raise RetryableError(f"PostgreSQL at {config.dsn} cannot be reached ({exc}); check 'dsn'") from None
        params["hostaddr"] = ",".join(address for address, _ in local)
        params["port"] = ",".join(str(port) for _, port in local)
        kwargs: dict[str, Any] = {"password": password} if password else {}
        pool = ConnectionPool(
            make_conninfo("", **params),
            min_size=1,
            max_size=config.pool_size,
            kwargs=kwargs,
            configure=_configure,
            open=False,
        )
        try:
            pool.open(wait=True, timeout=15)
        except PoolTimeout as exc:
            pool.close()
            raise RetryableError(f"PostgreSQL at {config.dsn} cannot be reached ({exc}); check 'dsn'") from None
    except BaseException:
        forwards.close()
        raise
    return _Pool(pool, forwards)


def _servers(params: dict[str, Any]) -> list[tuple[str, int]]:
    """The (host, port) pairs the DSN names, by address where it gives one (``hostaddr``)."""
    names = str(params.get("hostaddr") or params.get("host") or "").split(",")
    if not names[0] or any(name.startswith("/") or not name for name in names):
        raise ConfigInvalid(
            "config field 'dsn' names no server by host name or address (a Unix socket folder, or nothing, means "
            "this machine's socket, which plugins cannot reach); give host=NAME or postgresql://user@NAME:5432/db",
            details={"field": "dsn"},
        )
    ports = str(params.get("port") or "5432").split(",")
    if len(ports) == 1:
        ports *= len(names)
    if len(ports) != len(names):
        raise ConfigInvalid(
            f"config field 'dsn' names {len(names)} hosts and {len(ports)} ports; give one port or one each",
            details={"field": "dsn"},
        )
    try:
        return [(name, int(port or 5432)) for name, port in zip(names, ports, strict=True)]
    except ValueError:
        raise ConfigInvalid(
            f"config field 'dsn' port {params.get('port')!r} is not a number", details={"field": "dsn"}
        ) from None


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    connection.commit()
    register_vector(connection)


_pools = _Pools()


def close_pools() -> None:
    """Close every connection pool of this process, and the forwards its connections go through."""
    _pools.close()


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
