"""Blob grants: which workspace may name which blob of the shared, content-addressed store.

The store is shared by every workspace of a server and addressed by content, so a digest is
no secret: it shows up in logs, shared links and step histories. A grant records that a blob
entered through a workspace (an upload, a step's output, a file the host made for it); only
then may a caller of that workspace hand a reference to it to a run, a plugin or OCR. A grant
is permission, not a reference: retention collects an unreferenced blob whatever its grants,
and removes them with it.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module. The functions take the connection of a transaction, so a grant commits
with what made the blob known (a step's record, an OCR result, a watched file).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Column, ForeignKey, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from synthral.store.tables import UTCDateTime, metadata, utcnow

__all__ = ["BLOB_GRANT", "grant_blobs", "granted_blobs", "revoke_blobs"]

BLOB_GRANT: Final = Table(
    "blob_grant",
    metadata,
    Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The workspace whose callers may name the blob.",
    ),
    Column(
        "digest",
        String,
        primary_key=True,
        index=True,
        comment="The blob, as its references name it: 'sha256:' and 64 lowercase hex digits.",
    ),
    Column(
        "granted_at",
        UTCDateTime(),
        nullable=False,
        comment="When the blob first entered through the workspace (an upload, a step's output...).",
    ),
)
"""A blob one workspace may hand to runs and plugins; absent means it may not (whether or not it is stored)."""

_CHUNK: Final = 500
"""Digests per statement: SQLite allows a bounded number of parameters."""
_INSERTS: Final[dict[str, Callable[[Table], Any]]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_STATEMENTS: dict[str, Any] = {}


def _insert_ignoring_duplicates(dialect: str) -> Any:
    statement = _STATEMENTS.get(dialect)
    if statement is None:
        statement = _INSERTS[dialect](BLOB_GRANT).on_conflict_do_nothing(index_elements=["workspace_id", "digest"])
        _STATEMENTS[dialect] = statement
    return statement


def _chunks(digests: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(digests))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def grant_blobs(
    connection: Connection, workspace_id: str, digests: Iterable[str], *, at: datetime | None = None
) -> None:
    """Let ``workspace_id`` name each of ``digests`` ('sha256:<hex>'); a grant it holds already is kept as it is."""
    statement = _insert_ignoring_duplicates(connection.dialect.name)
    when = at or utcnow()
    for chunk in _chunks(digests):
        connection.execute(statement, [{"workspace_id": workspace_id, "digest": d, "granted_at": when} for d in chunk])


def granted_blobs(connection: Connection, workspace_id: str, digests: Collection[str]) -> set[str]:
    """Those of ``digests`` that ``workspace_id`` may name."""
    found: set[str] = set()
    for chunk in _chunks(digests):
        found.update(
            connection.execute(
                select(BLOB_GRANT.c.digest).where(
                    BLOB_GRANT.c.workspace_id == workspace_id, BLOB_GRANT.c.digest.in_(chunk)
                )
            ).scalars()
        )
    return found


def revoke_blobs(connection: Connection, digests: Iterable[str]) -> int:
    """Remove every workspace's grant of ``digests`` (blobs retention deleted); how many went."""
    removed = 0
    for chunk in _chunks(digests):
        removed += connection.execute(delete(BLOB_GRANT).where(BLOB_GRANT.c.digest.in_(chunk))).rowcount
    return removed
