"""The audit log: who did what security-relevant thing, when, from where; tamper-evident.

Every row carries the hash of the row before it and its own hash over that and its fields
(sha256 of a canonical JSON document), so changing, removing or reordering a row breaks the
chain at that row, which :meth:`AuditLog.verify` finds. Rows are appended one at a time in a
write transaction that serialises appenders (SQLite's write lock; a transaction-scoped
advisory lock on PostgreSQL), and triggers refuse UPDATE and DELETE on the table.

Removing rows from the end leaves a valid shorter chain; :meth:`AuditLog.verify` reports the
head's hash and position so an operator can keep them elsewhere (docs/observability.md).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Connection

from synthral.engine.runtime import SecretResolver
from synthral.errors import InputInvalid
from synthral.observability import hooks as observe
from synthral.observability.logs import current_execution
from synthral.security.redact import process_redactor
from synthral.store.audit_tables import AUDIT_EVENT
from synthral.store.db import Database
from synthral.store.tables import MEMBERSHIP

__all__ = ["ACTIONS", "GENESIS", "AuditEvent", "AuditLog", "ChainReport", "audited_secrets", "event_hash"]

log = logging.getLogger("synthral.audit")

GENESIS: Final = "0" * 64
"""The ``prev_hash`` of the first row."""

ACTIONS: Final = frozenset(
    {
        "auth.login",
        "auth.login_failed",
        "auth.sso_login",
        "member.add",
        "member.role_change",
        "member.remove",
        "credential.write",
        "credential.rotate",
        "credential.delete",
        "credential.read_by_step",
        "plugin.install",
        "plugin.remove",
        "workflow.delete",
        "workflow.export",
        "api_key.create",
        "api_key.revoke",
        "webhook.secret_rotate",
    }
)
"""The acts recorded; the filter on ``action`` accepts only these."""

_PG_LOCK: Final = 7240522  # one appender at a time on PostgreSQL (the migrator holds 7240521)
_MAX_DETAILS: Final = 8192


@dataclass(frozen=True)
class AuditEvent:
    """One row of the log."""

    id: int
    at: str
    workspace_id: str | None
    actor_kind: str
    actor_id: str | None
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """What :meth:`AuditLog.verify` found.

    Attributes:
        ok: Every row's hash is right and links to the row before it.
        checked: Rows checked.
        head_id: The last row's position (0 when the log is empty).
        head_hash: The last row's hash; keep it elsewhere to detect rows cut from the end.
        broken_at: The first row that does not verify, when one does not.
        reason: Why it does not.
    """

    ok: bool
    checked: int
    head_id: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None


def _canonical_at(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, row_id: int, fields: dict[str, Any]) -> str:
    """The hash of a row: sha256 over the previous hash, the position and the fields, canonically."""
    document = {"id": row_id, "prev": prev_hash, **fields}
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _fields(row: Any) -> dict[str, Any]:
    return {
        "at": _canonical_at(row.at),  # aware UTC from the column (UTCDateTime), whichever backend
        "workspace_id": row.workspace_id,
        "actor_kind": row.actor_kind,
        "actor_id": row.actor_id,
        "action": row.action,
        "outcome": row.outcome,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "details": row.details,
    }


class AuditLog:
    """Append to and read the audit log."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(
        self,
        action: str,
        *,
        workspace_id: str | None = None,
        actor_id: str | None = None,
        actor_kind: str = "user",
        outcome: str = "success",
        target_type: str | None = None,
        target_id: str | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Append one event and return its position.

        ``details`` pass through the process's secret masking before they are hashed, so a
        secret value that slipped in is never stored.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")  # a host bug, not user input
        clean = process_redactor.value(details or {})
        if len(orjson.dumps(clean)) > _MAX_DETAILS:
            clean = {"truncated": True}
        at = datetime.now(UTC)
        values = {
            "at": at,
            "workspace_id": workspace_id,
            "actor_kind": actor_kind,
            "actor_id": actor_id,
            "action": action,
            "outcome": outcome,
            "target_type": target_type,
            "target_id": target_id,
            "ip": ip,
            "details": clean,
        }
        postgres = self.database.is_postgres

        def append(connection: Connection) -> int:
            if postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
            last = connection.execute(
                select(AUDIT_EVENT.c.id, AUDIT_EVENT.c.hash).order_by(AUDIT_EVENT.c.id.desc()).limit(1)
            ).first()
            row_id = (last.id + 1) if last is not None else 1
            prev = last.hash if last is not None else GENESIS
            fields = {**values, "at": _canonical_at(at)}
            digest = event_hash(prev, row_id, fields)
            connection.execute(insert(AUDIT_EVENT).values(id=row_id, prev_hash=prev, hash=digest, **values))
            return row_id

        row_id = await self.database.write(append)
        observe.audit_recorded({"id": row_id, **values, "at": _canonical_at(at)})
        return row_id

    async def record_quietly(self, action: str, **kwargs: Any) -> None:
        """:meth:`record`, logging instead of raising when the write fails (the act itself stands)."""
        try:
            await self.record(action, **kwargs)
        except Exception:
            log.exception("could not record audit event %s", action)

    async def query(
        self,
        workspace_id: str,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> tuple[list[AuditEvent], int | None]:
        """A workspace's events, newest first, filtered; and the position to continue before.

        Raises:
            InputInvalid: An unknown action or outcome, or ``since`` after ``until``.
        """
        if action is not None and action not in ACTIONS:
            raise InputInvalid(
                f"action {action!r} is not an audited act; use one of: {', '.join(sorted(ACTIONS))}",
                details={"field": "action"},
            )
        if outcome is not None and outcome not in ("success", "failure"):
            raise InputInvalid("outcome must be 'success' or 'failure'", details={"field": "outcome"})
        if since is not None and until is not None and since > until:
            raise InputInvalid("since is after until; swap them", details={"field": "since"})
        table = AUDIT_EVENT
        members = select(MEMBERSHIP.c.user_id).where(MEMBERSHIP.c.workspace_id == workspace_id)
        # Server-wide acts (sign-ins, plugin installs) show where their actor or target user is a member.
        server_wide = and_(
            table.c.workspace_id.is_(None),
            or_(table.c.actor_id.in_(members), and_(table.c.target_type == "user", table.c.target_id.in_(members))),
        )
        query = select(table).where(or_(table.c.workspace_id == workspace_id, server_wide))
        for column, value in (
            (table.c.action, action),
            (table.c.actor_id, actor_id),
            (table.c.target_type, target_type),
            (table.c.target_id, target_id),
            (table.c.outcome, outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(table.c.at >= since)
        if until is not None:
            query = query.where(table.c.at < until)
        if before_id is not None:
            query = query.where(table.c.id < before_id)
        query = query.order_by(table.c.id.desc()).limit(limit + 1)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        events = [_event(row) for row in rows[:limit]]
        return events, (events[-1].id if len(rows) > limit else None)

    async def verify(self, *, batch: int = 2000) -> ChainReport:
        """Walk the whole chain from the first row and report the first row that does not verify."""
        prev = GENESIS
        expected_id = 1
        checked = 0
        async with self.database.engine.connect() as connection:
            while True:
                rows = (
                    await connection.execute(
                        select(AUDIT_EVENT)
                        .where(AUDIT_EVENT.c.id >= expected_id)
                        .order_by(AUDIT_EVENT.c.id)
                        .limit(batch)
                    )
                ).all()
                for row in rows:
                    if row.id != expected_id:
                        return ChainReport(
                            False, checked, expected_id - 1, prev, expected_id, f"row {expected_id} is missing"
                        )
                    if row.prev_hash != prev:
                        return ChainReport(
                            False, checked, row.id, prev, row.id, f"row {row.id} does not link to row {row.id - 1}"
                        )
                    if event_hash(prev, row.id, _fields(row)) != row.hash:
                        return ChainReport(
                            False, checked, row.id, prev, row.id, f"row {row.id} was changed after it was written"
                        )
                    prev = row.hash
                    expected_id += 1
                    checked += 1
                if len(rows) < batch:
                    break
        return ChainReport(True, checked, expected_id - 1, prev)


def audited_secrets(resolve: SecretResolver, database: Database) -> SecretResolver:
    """``resolve``, recording each read by a step (the names, never the values) in the audit log."""
    audit = AuditLog(database)

    async def read(names: list[str], workspace_id: str | None) -> dict[str, str]:
        values = await resolve(names, workspace_id)
        if names:
            execution_id, node_id = current_execution()
            await audit.record_quietly(
                "credential.read_by_step",
                workspace_id=workspace_id,
                actor_kind="system",
                target_type="credential",
                target_id=",".join(sorted(names))[:256],
                details={"names": sorted(names), "execution_id": execution_id, "node_id": node_id},
            )
        return values

    return read


def _event(row: Any) -> AuditEvent:
    fields = _fields(row)
    return AuditEvent(id=row.id, prev_hash=row.prev_hash, hash=row.hash, **fields)
