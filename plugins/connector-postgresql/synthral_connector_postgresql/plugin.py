"""The PostgreSQL connector: queries with bound parameters, inserts by column, a new-row trigger.

Values always travel as bound parameters and table and column names as quoted identifiers
(psycopg.sql), so no input is ever spliced into SQL text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import (
    AuthSpec,
    ConnectionCheck,
    ConnectionStatus,
    Connector,
    Context,
    CredentialField,
    NoConfig,
    Node,
    PollRequest,
    PollResult,
    Trigger,
    hookimpl,
)
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["Execute", "InsertRows", "NewRow", "Postgres", "Query", "synthral_connectors", "synthral_triggers"]

SECRETS = ("dsn",)
IDENT = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$"


@contextlib.contextmanager
def _connect(context: Context) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection to the credential's database, made through the call's network policy.

    libpq connects by itself, so each server of the DSN is reached through a loopback
    forward (``context.tcp_forward``): outside the OS sandbox the policy judges the address,
    inside it the host's egress proxy does. ``host`` stays the server's name, so TLS
    (``sslmode=verify-full``) still checks the certificate against it.
    """
    dsn = context.secrets.get("dsn")
    if not dsn:
        raise ConfigurationError(
            "connector 'postgresql' was granted no 'dsn'; connect it first (postgresql://user:password@host:5432/db)"
        )
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"the 'dsn' does not parse: {str(exc).splitlines()[0]}") from None
    targets = _servers(params)
    params["host"] = params.get("host") or params.get("hostaddr")  # the names TLS checks certificates against
    timeout = max(1, int(context.time_remaining() or 10))
    with contextlib.ExitStack() as forwards:
        try:
            local = [
                forwards.enter_context(context.tcp_forward(host, port, timeout=min(timeout, 10)))
                for host, port in targets
            ]
        except ConnectionError as exc:  # a refusal by the policy is EgressDenied, raised as it is
            raise RetryableError(f"could not connect to PostgreSQL: {exc}") from None
        params["hostaddr"] = ",".join(address for address, _ in local)
        params["port"] = ",".join(str(port) for _, port in local)
        try:
            conn = psycopg.connect(
                make_conninfo("", **params), row_factory=dict_row, connect_timeout=min(timeout, 10), autocommit=False
            )
        except psycopg.OperationalError as exc:
            raise RetryableError(f"could not connect to PostgreSQL: {str(exc).splitlines()[0]}") from None
        with conn:
            yield conn


def _servers(params: dict[str, Any]) -> list[tuple[str, int]]:
    """The (host, port) pairs the DSN names, by address where it gives one (``hostaddr``)."""
    names = str(params.get("hostaddr") or params.get("host") or "").split(",")
    if not names[0] or any(name.startswith("/") or not name for name in names):
        raise ConfigurationError(
            "the 'dsn' names no server by host name or address (a Unix socket folder, or nothing, means this "
            "machine's socket, which plugins cannot reach); give host=NAME or postgresql://user@NAME:5432/db"
        )
    ports = str(params.get("port") or "5432").split(",")
    if len(ports) == 1:
        ports *= len(names)
    if len(ports) != len(names):
        raise ConfigurationError(
            f"the 'dsn' names {len(names)} hosts and {len(ports)} ports; give one port or one each"
        )
    try:
        return [(name, int(port or 5432)) for name, port in zip(names, ports, strict=True)]
    except ValueError:
        raise ConfigurationError(f"the 'dsn' port {params.get('port')!r} is not a number") from None


def _name(qualified: str) -> sql.Composable:
    return sql.Identifier(*qualified.split("."))


def _run(
    context: Context, statement: sql.Composable | str, params: Sequence[Any] | dict[str, Any] | None, fetch: bool
) -> tuple[list[dict[str, Any]], int]:
    with _connect(context) as conn, conn.cursor() as cur:
        try:
            cur.execute(statement, params)  # type: ignore[arg-type]
        except psycopg.errors.SerializationFailure as exc:
            raise RetryableError(f"PostgreSQL: {exc.diag.message_primary}") from None
        except psycopg.Error as exc:
            raise NonRetryableError(
                f"PostgreSQL refused the statement: {exc.diag.message_primary or exc} (SQLSTATE {exc.sqlstate})",
                details={"sqlstate": exc.sqlstate or ""},
            ) from None
        rows = cur.fetchall() if fetch and cur.description else []
        return rows, cur.rowcount


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, JsonValue]]:
    def value(v: Any) -> JsonValue:
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list | tuple):
            return [value(i) for i in v]
        if isinstance(v, dict):
            return {str(k): value(i) for k, i in v.items()}
        return str(v)  # dates, decimals, UUIDs: their text form

    return [{k: value(v) for k, v in row.items()} for row in rows]


class QueryInput(BaseModel):
    """A statement and its parameters."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, description="SQL with %s (or %(name)s) placeholders.")
    params: list[JsonValue] | dict[str, JsonValue] = Field(
        default_factory=list, description="Bound to the placeholders."
    )


class QueryOutput(BaseModel):
    """The rows a query returned."""

    rows: list[dict[str, JsonValue]]
    count: int


class Query(Node[QueryInput, QueryOutput, NoConfig]):
    """Run a query and return its rows (in a transaction that is committed)."""

    name = "query"
    secrets = SECRETS

    def run(self, inputs: QueryInput, config: NoConfig, context: Context) -> QueryOutput:
        """Run the query."""
        rows, _ = _run(context, inputs.sql, inputs.params, fetch=True)
        return QueryOutput(rows=_json_rows(rows), count=len(rows))


class ExecuteOutput(BaseModel):
    """How many rows a statement touched."""

    rowcount: int


class Execute(Node[QueryInput, ExecuteOutput, NoConfig]):
    """Run a statement (UPDATE, DELETE, DDL) and commit it."""

    name = "execute"
    secrets = SECRETS

    def run(self, inputs: QueryInput, config: NoConfig, context: Context) -> ExecuteOutput:
        """Run the statement."""
        _, count = _run(context, inputs.sql, inputs.params, fetch=False)
        return ExecuteOutput(rowcount=count)


class InsertInput(BaseModel):
    """Rows to insert by column name."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=IDENT, description="Table, optionally schema-qualified.")
    rows: list[dict[str, JsonValue]] = Field(min_length=1, max_length=10_000)
    returning: list[str] = Field(default_factory=list, description="Columns to return, e.g. ['id'].")


class Insert(BaseModel):
    """The inserted rows' returned columns."""

    inserted: int
    returned: list[dict[str, JsonValue]]


class InsertRows(Node[InsertInput, Insert, NoConfig]):
    """Insert rows in one transaction; all or none."""

    name = "insert_rows"
    secrets = SECRETS

    def run(self, inputs: InsertInput, config: NoConfig, context: Context) -> Insert:
        """Insert the rows."""
        columns = sorted({c for row in inputs.rows for c in row})
        statement = sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
            _name(inputs.table),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(", ").join(
                sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns))) for _ in inputs.rows
            ),
        )
        if inputs.returning:
            statement = sql.Composed(
                [
                    statement,
                    sql.SQL(" RETURNING {}").format(sql.SQL(", ").join(sql.Identifier(c) for c in inputs.returning)),
                ]
            )
        params = [
            psycopg.types.json.Jsonb(v) if isinstance(v, dict | list) else v
            for row in inputs.rows
            for v in (row.get(c) for c in columns)
        ]
        rows, count = _run(context, statement, params, fetch=bool(inputs.returning))
        return Insert(inserted=count, returned=_json_rows(rows))


class Postgres(Connector[NoConfig]):
    """PostgreSQL databases (any server reachable from the plugin)."""

    name = "postgresql"
    title = "PostgreSQL"
    auth = AuthSpec(
        type="api_key",
        fields=[
            CredentialField(
                name="dsn",
                title="Connection URI",
                description="postgresql://user:password@host:5432/db?sslmode=require",
            )
        ],
    )
    actions = (Query, Execute, InsertRows)
    secrets = SECRETS

    def test_connection(self, request: ConnectionCheck, config: NoConfig, context: Context) -> ConnectionStatus:
        """Connect and ask who we are."""
        try:
            rows, _ = _run(context, "SELECT current_user AS who, version() AS version", None, fetch=True)
        except (RetryableError, NonRetryableError, ConfigurationError) as exc:
            return ConnectionStatus(ok=False, message=exc.message)
        return ConnectionStatus(ok=True, message=f"connected as {rows[0]['who']}")


class NewRowConfig(BaseModel):
    """Which table to watch and by which ever-increasing column."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=IDENT)
    cursor_column: str = Field(
        default="id",
        pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$",
        description="A column that only grows (a serial id, a created_at).",
    )
    batch: int = Field(default=100, ge=1, le=10_000)
    backfill: bool = False


class NewRow(Trigger[NewRowConfig]):
    """Rows whose cursor column is past the last one seen, in its order."""

    name = "new_row"
    secrets = SECRETS

    def poll(self, request: PollRequest, config: NewRowConfig, context: Context) -> PollResult:
        """Fetch the rows past the cursor."""
        state = request.state or {}
        cursor = state.get("cursor")
        column, table = sql.Identifier(config.cursor_column), _name(config.table)
        if cursor is None and not config.backfill:
            rows, _ = _run(context, sql.SQL("SELECT max({}) AS last FROM {}").format(column, table), None, fetch=True)
            last = _json_rows(rows)[0]["last"]
            return PollResult(events=[], state={"cursor": last})
        where = sql.SQL("") if cursor is None else sql.SQL(" WHERE {} > %s").format(column)
        statement = sql.SQL("SELECT * FROM {}{} ORDER BY {} LIMIT {}").format(
            table, where, column, sql.Literal(config.batch)
        )
        rows = _json_rows(_run(context, statement, None if cursor is None else [cursor], fetch=True)[0])
        new_cursor = rows[-1][config.cursor_column] if rows else cursor
        return PollResult(events=rows, state={"cursor": new_cursor})


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the PostgreSQL connector (its actions come with it)."""
    return [Postgres()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the new-row trigger."""
    return [NewRow()]
