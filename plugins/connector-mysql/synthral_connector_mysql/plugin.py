"""The MySQL connector: queries with bound parameters, row inserts/updates/deletes, a row-change trigger.

Values always travel as bound parameters and table and column names as checked, back-quoted
identifiers, so no input is ever spliced into SQL. One statement per call: PyMySQL does not
enable multi-statements, so ``SELECT 1; DROP TABLE t`` is a syntax error, not two statements.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
import ssl
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
import pymysql.cursors
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

__all__ = [
    "DeleteRows",
    "Execute",
    "InsertRows",
    "MySQL",
    "Query",
    "RowChange",
    "UpdateRows",
    "synthral_connectors",
    "synthral_triggers",
]

SECRETS = ("dsn",)
COLUMN = r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$"
TABLE = r"^[A-Za-z_][A-Za-z0-9_$]{0,63}(\.[A-Za-z_][A-Za-z0-9_$]{0,63})?$"
RETRYABLE = {1205, 1213, 2003, 2006, 2013, 1040, 1053}
"""Lock wait timeout, deadlock, cannot connect, server gone, lost connection, too many connections, shutdown."""
T = TypeVar("T")


def _params(dsn: str) -> dict[str, Any]:
    """``mysql://user:password@host:3306/db?ssl=true&ssl_ca=/ca.pem&charset=utf8mb4`` → PyMySQL's arguments."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ConfigurationError(
            f"the credential's 'dsn' starts with {parts.scheme or 'nothing'!r}; "
            "write it as mysql://user:password@host:3306/database"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "unix_socket" in query:
        raise ConfigurationError(
            "the credential's 'dsn' asks for a Unix socket (unix_socket=), which means this machine's socket, "
            "and plugins cannot reach it; name the server by host name or address instead: "
            "mysql://user:password@host:3306/database"
        )
    unknown = set(query) - {"ssl", "ssl_ca", "charset"}
    if unknown:
        raise ConfigurationError(
            f"the credential's 'dsn' has unknown options {sorted(unknown)}; use ssl, ssl_ca or charset"
        )
    try:
        port = parts.port or 3306
    except ValueError:
        raise ConfigurationError("the credential's 'dsn' has a port that is not a number (1-65535)") from None
    args: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": port,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")) or None,
        "charset": query.get("charset", "utf8mb4"),
    }
    if query.get("ssl", "").lower() in ("1", "true", "required") or "ssl_ca" in query:
        args["ssl"] = _tls(query.get("ssl_ca"))
    return args


def _tls(ca: str | None) -> ssl.SSLContext:
    """TLS that is required, with the certificate checked against the CAs and the server's host name.

    PyMySQL wraps the socket with ``server_hostname`` = the DSN's host (the real name, since the
    socket is handed to it already connected), so ``check_hostname`` holds whatever the route.
    """
    try:
        context = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"the 'dsn' option ssl_ca={ca!r} is not a readable CA file: {exc}") from None
    if ca is not None:
        # As PyMySQL does for a CA file: MySQL's self-made certificates lack what strict checks want.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _connect(context: Context) -> pymysql.connections.Connection[pymysql.cursors.DictCursor]:
    """A connection to the credential's server, on a socket opened through the call's network policy.

    The socket comes from ``context.tcp_connect``: outside the OS sandbox the policy judges each
    address, inside it the host's egress proxy does. PyMySQL only speaks over it (its own TLS
    included, checked against the DSN's host name).
    """
    dsn = context.secrets.get("dsn")
    if not dsn:
        raise ConfigurationError(
            "connector 'mysql' was granted no 'dsn'; connect it first (mysql://user:password@host:3306/database)"
        )
    params = _params(dsn)
    timeout = max(1, min(30, int(context.time_remaining() or 30)))
    conn = pymysql.connect(
        **params,
        cursorclass=pymysql.cursors.DictCursor,
        autocommit=False,
        connect_timeout=min(timeout, 10),
        read_timeout=timeout,
        write_timeout=timeout,
        local_infile=False,
        defer_connect=True,
    )
    try:
        sock = context.tcp_connect(params["host"], params["port"], timeout=min(timeout, 10))
    except ConnectionError as exc:  # a refusal by the policy is EgressDenied, raised as it is
        raise RetryableError(f"could not connect to MySQL: {exc}") from None
    try:
        conn.connect(sock=sock)
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        if code in (1044, 1045, 1049, 1698):  # access denied, unknown database
            raise NonRetryableError(
                f"MySQL refused the credential: {exc.args[1] if len(exc.args) > 1 else exc} (error {code})",
                details={"errno": code},
            ) from None
        cause = getattr(exc, "original_exception", None)
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise NonRetryableError(
                f"MySQL's TLS certificate was not accepted for {params['host']}: {cause.verify_message or cause}",
                details={"errno": code},
            ) from None
        raise RetryableError(f"could not connect to MySQL: {exc.args[-1] if exc.args else exc}") from None
    return conn


def _transaction(context: Context, work: Callable[[pymysql.cursors.DictCursor], T]) -> T:
    """Run ``work`` in one transaction: committed when it returns, rolled back when it raises."""
    conn = _connect(context)
    try:
        with conn.cursor() as cur:
            result = work(cur)
        conn.commit()
        return result
    except pymysql.err.MySQLError as exc:
        conn.rollback()
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        message = exc.args[1] if len(exc.args) > 1 else str(exc)
        if code in RETRYABLE:
            raise RetryableError(f"MySQL: {message} (error {code})", details={"errno": code}) from None
        raise NonRetryableError(
            f"MySQL refused the statement: {message} (error {code})", details={"errno": code}
        ) from None
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def _value(v: Any) -> JsonValue:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, bytes | bytearray):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(bytes(v)).decode()
    if isinstance(v, dt.datetime | dt.date | dt.time | dt.timedelta | decimal.Decimal):
        return str(v)  # DATETIME as 'YYYY-MM-DD HH:MM:SS[.ffffff]', which MySQL reads back as it is
    return str(v)


def _json_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, JsonValue]]:
    return [{k: _value(v) for k, v in row.items()} for row in rows]


def _bind(v: JsonValue) -> Any:
    """Objects and lists go in as JSON text (a JSON column takes it as it is)."""
    return json.dumps(v) if isinstance(v, dict | list) else v


def _table(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


def _where(where: dict[str, JsonValue]) -> tuple[str, list[Any]]:
    """Equality conditions: None is IS NULL, a list is IN (...)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in sorted(where.items()):
        if value is None:
            clauses.append(f"`{column}` IS NULL")
        elif isinstance(value, list):
            if not value:
                clauses.append("FALSE")
                continue
            clauses.append(f"`{column}` IN ({', '.join(['%s'] * len(value))})")
            params.extend(_bind(v) for v in value)
        else:
            clauses.append(f"`{column}` = %s")
            params.append(_bind(value))
    return " AND ".join(clauses), params


def _check_columns(columns: Sequence[str], field: str) -> None:
    for column in columns:
        if not re.fullmatch(COLUMN, column):
            raise ConfigurationError(
                f"'{field}' names the column {column[:80]!r}; a column name is letters, digits, _ and $ "
                "(not starting with a digit)"
            )


class QueryInput(BaseModel):
    """A statement and its parameters."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, description="One statement with %s (or %(name)s) placeholders.")
    params: list[JsonValue] | dict[str, JsonValue] = Field(
        default_factory=list, description="Bound to the placeholders (a list for %s, an object for %(name)s)."
    )


def _execute(cur: pymysql.cursors.DictCursor, statement: str, params: Sequence[Any] | dict[str, Any]) -> None:
    bound: Any = None
    if isinstance(params, dict):
        bound = {k: _bind(v) for k, v in params.items()} if params else None
    elif params:
        bound = [_bind(v) for v in params]
    try:
        cur.execute(statement, bound)
    except (TypeError, KeyError, ValueError, pymysql.err.ProgrammingError) as exc:
        if isinstance(exc, pymysql.err.ProgrammingError) and exc.args and isinstance(exc.args[0], int):
            raise  # the server's own error
        raise ConfigurationError(
            f"the parameters do not match the placeholders ({exc}); give one value per %s, "
            "or an object with a key per %(name)s, and write a literal % as %%"
        ) from None


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

        def work(cur: pymysql.cursors.DictCursor) -> list[dict[str, Any]]:
            _execute(cur, inputs.sql, inputs.params)
            return list(cur.fetchall()) if cur.description else []

        rows = _json_rows(_transaction(context, work))
        return QueryOutput(rows=rows, count=len(rows))


class ExecuteOutput(BaseModel):
    """What a statement changed."""

    rowcount: int
    last_insert_id: int | None = Field(default=None, description="The AUTO_INCREMENT id of an INSERT, if any.")


class Execute(Node[QueryInput, ExecuteOutput, NoConfig]):
    """Run a statement (INSERT, UPDATE, DELETE, DDL) and commit it."""

    name = "execute"
    secrets = SECRETS

    def run(self, inputs: QueryInput, config: NoConfig, context: Context) -> ExecuteOutput:
        """Run the statement."""

        def work(cur: pymysql.cursors.DictCursor) -> ExecuteOutput:
            _execute(cur, inputs.sql, inputs.params)
            return ExecuteOutput(rowcount=max(cur.rowcount, 0), last_insert_id=cur.lastrowid or None)

        return _transaction(context, work)


class InsertInput(BaseModel):
    """Rows to insert by column name."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=TABLE, description="Table, optionally database-qualified (shop.orders).")
    rows: list[dict[str, JsonValue]] = Field(min_length=1, max_length=10_000)


class InsertOutput(BaseModel):
    """How many rows went in and the first AUTO_INCREMENT id."""

    inserted: int
    first_id: int | None = Field(
        default=None, description="The AUTO_INCREMENT id of the first row (the others follow it)."
    )


class InsertRows(Node[InsertInput, InsertOutput, NoConfig]):
    """Insert rows in one transaction; all or none."""

    name = "insert_rows"
    secrets = SECRETS

    def run(self, inputs: InsertInput, config: NoConfig, context: Context) -> InsertOutput:
        """Insert the rows."""
        columns = sorted({c for row in inputs.rows for c in row})
        _check_columns(columns, "rows")
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        names = ", ".join(f"`{c}`" for c in columns)
        values = ", ".join([placeholders] * len(inputs.rows))
        statement = f"INSERT INTO {_table(inputs.table)} ({names}) VALUES {values}"  # noqa: S608 (names checked)
        params = [_bind(row.get(c)) for row in inputs.rows for c in columns]

        def work(cur: pymysql.cursors.DictCursor) -> InsertOutput:
            cur.execute(statement, params)
            return InsertOutput(inserted=cur.rowcount, first_id=cur.lastrowid or None)

        return _transaction(context, work)


class WhereInput(BaseModel):
    """Which rows: equality conditions by column."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=TABLE)
    where: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="column: value (null is IS NULL, a list is IN); all must hold. Empty only with all_rows.",
    )
    all_rows: bool = Field(default=False, description="Allow an empty 'where' to touch every row of the table.")


class UpdateInput(WhereInput):
    """The new values and which rows get them."""

    values: dict[str, JsonValue] = Field(min_length=1, description="column: new value.")


class RowsOutput(BaseModel):
    """How many rows a statement changed."""

    rowcount: int


def _condition(inputs: WhereInput) -> tuple[str, list[Any]]:
    _check_columns(list(inputs.where), "where")
    if not inputs.where:
        if not inputs.all_rows:
            raise ConfigurationError("'where' is empty, which would touch every row; add conditions or set all_rows")
        return "", []
    clause, params = _where(inputs.where)
    return f" WHERE {clause}", params


class UpdateRows(Node[UpdateInput, RowsOutput, NoConfig]):
    """Set columns on the rows matching 'where'; returns how many rows changed."""

    name = "update_rows"
    secrets = SECRETS

    def run(self, inputs: UpdateInput, config: NoConfig, context: Context) -> RowsOutput:
        """Update the rows."""
        _check_columns(list(inputs.values), "values")
        where, where_params = _condition(inputs)
        columns = sorted(inputs.values)
        sets = ", ".join(f"`{c}` = %s" for c in columns)
        params = [_bind(inputs.values[c]) for c in columns] + where_params
        statement = f"UPDATE {_table(inputs.table)} SET {sets}{where}"  # noqa: S608 (names checked, values bound)

        def work(cur: pymysql.cursors.DictCursor) -> RowsOutput:
            cur.execute(statement, params)
            return RowsOutput(rowcount=cur.rowcount)

        return _transaction(context, work)


class DeleteRows(Node[WhereInput, RowsOutput, NoConfig]):
    """Delete the rows matching 'where'; returns how many went."""

    name = "delete_rows"
    secrets = SECRETS

    def run(self, inputs: WhereInput, config: NoConfig, context: Context) -> RowsOutput:
        """Delete the rows."""
        where, params = _condition(inputs)
        statement = f"DELETE FROM {_table(inputs.table)}{where}"  # noqa: S608 (names checked, values bound)

        def work(cur: pymysql.cursors.DictCursor) -> RowsOutput:
            cur.execute(statement, params)
            return RowsOutput(rowcount=cur.rowcount)

        return _transaction(context, work)


class MySQL(Connector[NoConfig]):
    """MySQL and MariaDB databases (any server reachable from the plugin)."""

    name = "mysql"
    title = "MySQL / MariaDB"
    auth = AuthSpec(
        type="api_key",
        fields=[
            CredentialField(
                name="dsn",
                title="Connection URI",
                description="mysql://user:password@host:3306/database (?ssl=true, ?ssl_ca=/ca.pem)",
            )
        ],
    )
    actions = (Query, Execute, InsertRows, UpdateRows, DeleteRows)
    secrets = SECRETS

    def test_connection(self, request: ConnectionCheck, config: NoConfig, context: Context) -> ConnectionStatus:
        """Connect and ask who we are."""

        def work(cur: pymysql.cursors.DictCursor) -> dict[str, Any]:
            cur.execute("SELECT CURRENT_USER() AS who, VERSION() AS version")
            row: dict[str, Any] = cur.fetchone() or {}
            return row

        try:
            row = _transaction(context, work)
        except (RetryableError, NonRetryableError, ConfigurationError) as exc:
            return ConnectionStatus(ok=False, message=exc.message)
        return ConnectionStatus(ok=True, message=f"connected as {row['who']} to {row['version']}")


class RowChangeConfig(BaseModel):
    """Which table to watch, by which growing column, and which column names a row."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=TABLE)
    cursor_column: str = Field(
        default="id",
        pattern=COLUMN,
        description="A column that grows on every insert (an AUTO_INCREMENT id: new rows) or every change "
        "(updated_at TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6): new and changed rows).",
    )
    key_column: str = Field(default="id", pattern=COLUMN, description="The primary key: orders rows sharing a cursor.")
    batch: int = Field(default=100, ge=1, le=1_000)
    backfill: bool = Field(default=False, description="Start from the first row instead of the newest.")


class RowChange(Trigger[RowChangeConfig]):
    """New (or, with an updated_at cursor, changed) rows past the cursor, oldest first, each version once.

    The cursor is the pair (cursor column, key) of the last row emitted, so rows sharing a
    cursor value (a bulk update in one second) page through batches without repeats or gaps.
    Each event's ``id`` is ``key@cursor``: a row changed again is a new event, a row seen again is not.
    """

    name = "row_change"
    secrets = SECRETS

    def poll(self, request: PollRequest, config: RowChangeConfig, context: Context) -> PollResult:
        """Fetch the rows past the cursor."""
        state = request.state or {}
        cursor, key = state.get("cursor"), state.get("key")
        column, key_column, table = f"`{config.cursor_column}`", f"`{config.key_column}`", _table(config.table)
        if request.state is None and not config.backfill:
            sql = (
                f"SELECT {column} AS c, {key_column} AS k FROM {table} WHERE {column} IS NOT NULL "  # noqa: S608
                f"ORDER BY {column} DESC, {key_column} DESC LIMIT 1"
            )

            def last(cur: pymysql.cursors.DictCursor) -> dict[str, Any] | None:
                cur.execute(sql)
                row: dict[str, Any] | None = cur.fetchone()
                return row

            top = _transaction(context, last)
            return PollResult(
                events=[], state={"cursor": _value(top["c"]) if top else None, "key": _value(top["k"]) if top else None}
            )
        if cursor is None:
            where, params = f"{column} IS NOT NULL", []
        else:
            where = f"({column} > %s OR ({column} = %s AND {key_column} > %s))"
            params = [cursor, cursor, key]
        statement = f"SELECT * FROM {table} WHERE {where} ORDER BY {column}, {key_column} LIMIT {config.batch}"  # noqa: S608

        def fetch(cur: pymysql.cursors.DictCursor) -> list[dict[str, Any]]:
            cur.execute(statement, params or None)
            return list(cur.fetchall())

        rows = _json_rows(_transaction(context, fetch))
        events: list[dict[str, JsonValue]] = [
            {
                "id": f"{row[config.key_column]}@{row[config.cursor_column]}",
                "key": row[config.key_column],
                "cursor": row[config.cursor_column],
                "row": row,
            }
            for row in rows
        ]
        if rows:
            cursor, key = rows[-1][config.cursor_column], rows[-1][config.key_column]
        return PollResult(events=events, state={"cursor": cursor, "key": key})


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the MySQL connector (its actions come with it)."""
    return [MySQL()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the row-change trigger."""
    return [RowChange()]
