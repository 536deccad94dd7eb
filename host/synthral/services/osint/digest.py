"""Digests: what the signals of a window say, in one document; scheduled ones start a workflow.

Like Huginn's digest agent, a digest gathers the signals of a period into one event: how
many there were, per source and per stream, the words that came up most, and the newest
signals themselves. :func:`build_digest` makes one on demand; a scheduled digest
(``osint_digest``: a cron and a query) is sent by the scheduler at each slot as the input of
its workflow, under an id derived from the digest and the slot, so a slot is sent once.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.engine.schedules import next_fire
from synthral.services.osint.ingest import signal_view
from synthral.services.osint.signals import phrase_pattern
from synthral.store.db import Database
from synthral.store.osint_tables import OSINT_DIGEST, OSINT_SIGNAL
from synthral.store.tables import WORKFLOW

__all__ = ["DigestQuery", "build_digest", "digest_execution_id", "send_due_digests"]

MAX_SCAN: Final = 100_000
"""Signals one digest reads at most (the newest); its ``truncated`` says when there were more."""
_WORD = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
_STOP: Final = frozenset(
    {
        "the",
        "and",
        "for",
        "that",
        "with",
        "this",
        "from",
        "have",
        "has",
        "was",
        "were",
        "are",
        "not",
        "but",
        "you",
        "your",
        "our",
        "their",
        "they",
        "them",
        "its",
        "it's",
        "will",
        "would",
        "can",
        "could",
        "about",
        "into",
        "over",
        "after",
        "before",
        "than",
        "then",
        "there",
        "here",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "how",
        "all",
        "any",
        "some",
        "more",
        "most",
        "other",
        "such",
        "only",
        "own",
        "same",
        "also",
        "just",
        "been",
        "being",
        "out",
        "off",
        "new",
        "said",
        "says",
        "one",
        "two",
        "per",
        "via",
        "amp",
        "http",
        "https",
        "www",
        "com",
    }
)


class DigestQuery(BaseModel):
    """Which signals a digest covers and how much of them it shows."""

    model_config = ConfigDict(extra="forbid")

    window_hours: float = Field(default=24.0, gt=0, le=24 * 90, description="Signals published in the last N hours.")
    keywords: list[str] = Field(default_factory=list, max_length=100, description="Any of these words (empty: all).")
    sources: list[str] = Field(default_factory=list, max_length=50, description="Only these sources (empty: all).")
    streams: list[str] = Field(default_factory=list, max_length=100, description="Only these stream ids (empty: all).")
    limit: int = Field(default=50, ge=0, le=1000, description="Newest signals listed in the digest.")
    top_terms: int = Field(default=20, ge=0, le=200, description="Most frequent words listed.")


def build_digest(connection: Connection, workspace_id: str, query: DigestQuery, now: datetime) -> dict[str, Any]:
    """The digest of the workspace's signals published in the query's window up to ``now``."""
    since = now - timedelta(hours=query.window_hours)
    table = OSINT_SIGNAL.c
    where = [table.workspace_id == workspace_id, table.published_at > since, table.published_at <= now]
    if query.sources:
        where.append(table.source.in_([s.lower() for s in query.sources]))
    if query.streams:
        where.append(table.stream_id.in_(query.streams))
    columns = (table.id, table.source, table.stream_id, table.published_at, table.text)
    rows = connection.execute(
        select(*columns).where(*where).order_by(table.published_at.desc(), table.id).limit(MAX_SCAN + 1)
    ).all()
    truncated = len(rows) > MAX_SCAN
    rows = rows[:MAX_SCAN]
    if query.keywords:
        pattern = phrase_pattern(query.keywords)
        rows = [row for row in rows if pattern.search(row.text)]
    by_source: Counter[str] = Counter(row.source for row in rows)
    by_stream: Counter[str] = Counter(row.stream_id for row in rows if row.stream_id)
    by_hour: Counter[str] = Counter(row.published_at.strftime("%Y-%m-%dT%H:00:00Z") for row in rows)
    terms: Counter[str] = Counter()
    if query.top_terms:
        for row in rows:
            terms.update({w for w in _WORD.findall(row.text.casefold()) if w not in _STOP})
    newest = [row.id for row in rows[: query.limit]]
    full = (
        {row.id: row for row in connection.execute(select(OSINT_SIGNAL).where(table.id.in_(newest)))} if newest else {}
    )
    return {
        "since": since.isoformat(),
        "until": now.isoformat(),
        "total": len(rows),
        "truncated": truncated,
        "by_source": dict(by_source.most_common()),
        "by_stream": dict(by_stream.most_common()),
        "by_hour": dict(sorted(by_hour.items())),
        "top_terms": [{"term": term, "signals": count} for term, count in terms.most_common(query.top_terms)],
        "signals": [signal_view(full[signal_id]) for signal_id in newest],
    }


def digest_execution_id(digest_id: str, slot: datetime) -> str:
    """The run a scheduled digest starts for a slot: one per slot, whichever scheduler sends it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:osint-digest:{digest_id}:{slot.isoformat()}"))


async def send_due_digests(database: Database, now: datetime) -> int:
    """Send every scheduled digest whose slot has come (the latest slot of a missed series); how many."""
    async with database.engine.connect() as connection:
        due = list(
            (
                await connection.execute(
                    select(OSINT_DIGEST.c.id).where(OSINT_DIGEST.c.next_run_at <= now).order_by(OSINT_DIGEST.c.id)
                )
            ).scalars()
        )
    sent = 0
    for digest_id in due:
        sent += await database.write(functools.partial(_send, database, digest_id=digest_id, now=now))
    return sent


def _send(database: Database, connection: Connection, *, digest_id: str, now: datetime) -> int:
    row = connection.execute(
        select(OSINT_DIGEST, WORKFLOW.c.version.label("workflow_version"), WORKFLOW.c.is_active.label("active"))
        .join(WORKFLOW, WORKFLOW.c.id == OSINT_DIGEST.c.workflow_id)
        .where(OSINT_DIGEST.c.id == digest_id, OSINT_DIGEST.c.next_run_at <= now)
    ).first()
    if row is None:
        return 0  # sent by another scheduler since the first look
    slot = row.next_run_at
    following = next_fire(row.cron, row.timezone, now)
    created = [False]
    if row.active:
        digest = build_digest(connection, row.workspace_id, DigestQuery.model_validate(row.query), now)
        run = state.NewRun(
            workflow_id=row.workflow_id,
            workflow_version=row.workflow_version,
            input={"digest": {"id": row.id, "name": row.name, "slot": slot.isoformat(), **digest}},
            trigger="osint",
            execution_id=digest_execution_id(row.id, slot),
        )
        created = state.enqueue_new(database, connection, [run])
    connection.execute(
        update(OSINT_DIGEST)
        .where(OSINT_DIGEST.c.id == row.id)
        .values(
            next_run_at=following,
            last_run_at=slot if created[0] else row.last_run_at,
            sent_count=OSINT_DIGEST.c.sent_count + int(created[0]),
        )
    )
    return int(created[0])


def count_signals(connection: Connection, workspace_id: str) -> int:
    """Signals stored in the workspace."""
    return int(connection.execute(select(func.count()).where(OSINT_SIGNAL.c.workspace_id == workspace_id)).scalar_one())
