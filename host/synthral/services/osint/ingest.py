"""Ingest: keep the new signals of a batch, drop noise and duplicates, start the alert rules' runs.

Everything happens in the caller's write transaction, so the signals, the stream's cursor
and the runs the alerts start commit together (or not at all):

- **noise** (:class:`~synthral.services.osint.signals.NoiseFilter`) is dropped and counted;
- a signal already stored (same source and source id) is a **repeat**: a source that sends
  again after a restart adds nothing;
- a signal whose text hashes like a stored one (``content_hash``), or whose simhash is at
  most :data:`~synthral.services.osint.signals.NEAR_DISTANCE` bits from one stored in the
  last :data:`NEAR_WINDOW`, is a **duplicate** (the same story re-posted, or lightly edited);
- each kept signal is matched against the workspace's active alert rules; a match queues a
  run of the rule's workflow with the signal as its input, under an id derived from the rule
  and the signal, so a signal starts a rule's workflow at most once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.services.osint.signals import NEAR_DISTANCE, NoiseFilter, Signal, bands, hamming, matches_any
from synthral.store.db import Database
from synthral.store.osint_tables import OSINT_ALERT, OSINT_SIGNAL
from synthral.store.tables import WORKFLOW, new_id

__all__ = ["NEAR_WINDOW", "IngestReport", "alert_execution_id", "ingest", "signal_view"]

NEAR_WINDOW: Final = timedelta(days=7)
"""How far back a near duplicate is looked for (exact duplicates: any time)."""


@dataclass
class IngestReport:
    """What one batch did."""

    kept: list[str] = field(default_factory=list)
    repeated: int = 0
    duplicates: int = 0
    filtered: int = 0
    noise: dict[str, int] = field(default_factory=dict)
    runs_started: int = 0


def alert_execution_id(alert_id: str, signal_id: str) -> str:
    """The run an alert starts for a signal: one per pair, whoever ingests it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:osint-alert:{alert_id}:{signal_id}"))


def signal_view(row: Any) -> dict[str, Any]:
    """A stored signal as JSON (API answers, digests, a run's input)."""
    return {
        "id": row.id,
        "stream_id": row.stream_id,
        "source": row.source,
        "source_id": row.source_id,
        "url": row.url,
        "author": row.author,
        "text": row.text,
        "published_at": row.published_at.isoformat(),
        "ingested_at": row.ingested_at.isoformat(),
        "language": row.language,
        "content_hash": row.content_hash,
        "simhash": row.simhash,
        "metadata": row.raw or {},
    }


class _Seen:
    """What the workspace holds already, read once per batch: ids, content hashes, recent simhash bands.

    The recent simhashes are indexed by band in memory: a fingerprint is compared only with
    those sharing one of its bands (about 7 % of the window), never with the whole window.
    """

    def __init__(self, connection: Connection, workspace_id: str, signals: Sequence[Signal], now: datetime) -> None:
        table = OSINT_SIGNAL.c
        self.ids: set[tuple[str, str]] = set()
        self.hashes: set[str] = set()
        for chunk in _chunks(signals, 500):
            self.ids.update(
                (row.source, row.source_id)
                for row in connection.execute(
                    select(table.source, table.source_id).where(
                        table.workspace_id == workspace_id, table.source_id.in_({s.source_id for s in chunk})
                    )
                )
            )
            self.hashes.update(
                connection.execute(
                    select(table.content_hash).where(
                        table.workspace_id == workspace_id, table.content_hash.in_({s.content_hash for s in chunk})
                    )
                ).scalars()
            )
        self.bands: dict[tuple[int, int], list[int]] = {}
        recent = connection.execute(
            select(table.simhash).where(table.workspace_id == workspace_id, table.ingested_at >= now - NEAR_WINDOW)
        ).scalars()
        for value in recent:
            self.add_fingerprint(int(value, 16))

    def add_fingerprint(self, value: int) -> None:
        for key in enumerate(bands(value)):
            self.bands.setdefault(key, []).append(value)

    def why(self, signal: Signal) -> str | None:
        """Why ``signal`` is not new: 'repeat', 'duplicate', or None when it is new."""
        if (signal.source, signal.source_id) in self.ids:
            return "repeat"
        if signal.content_hash in self.hashes:
            return "duplicate"
        for key in enumerate(bands(signal.simhash)):
            if any(hamming(other, signal.simhash) <= NEAR_DISTANCE for other in self.bands.get(key, ())):
                return "duplicate"
        return None

    def keep(self, signal: Signal) -> None:
        self.ids.add((signal.source, signal.source_id))
        self.hashes.add(signal.content_hash)
        self.add_fingerprint(signal.simhash)


def _chunks(items: Sequence[Signal], size: int) -> list[Sequence[Signal]]:
    return [items[n : n + size] for n in range(0, len(items), size)]


def ingest(
    database: Database,
    connection: Connection,
    *,
    workspace_id: str,
    stream_id: str | None,
    signals: Sequence[Signal],
    noise: NoiseFilter,
    now: datetime,
) -> IngestReport:
    """Store the new signals of a batch and queue the runs their alerts start (in the caller's transaction)."""
    report = IngestReport()
    candidates: list[Signal] = []
    for signal in signals:
        reason = noise.reason(signal)
        if reason is None:
            candidates.append(signal)
            continue
        report.filtered += 1
        report.noise[reason] = report.noise.get(reason, 0) + 1
    seen = _Seen(connection, workspace_id, candidates, now) if candidates else None
    kept_rows: list[dict[str, Any]] = []
    for signal in candidates:
        assert seen is not None
        known = seen.why(signal)
        if known == "repeat":
            report.repeated += 1
            continue
        if known == "duplicate":
            report.duplicates += 1
            continue
        seen.keep(signal)
        kept_rows.append(
            {
                "id": new_id(),
                "workspace_id": workspace_id,
                "stream_id": stream_id,
                "source": signal.source,
                "source_id": signal.source_id,
                "url": signal.url,
                "author": signal.author,
                "text": signal.text,
                "published_at": signal.published_at,
                "ingested_at": now,
                "content_hash": signal.content_hash,
                "simhash": f"{signal.simhash:016x}",
                **{f"simhash_b{n}": band for n, band in enumerate(bands(signal.simhash))},
                "language": signal.language,
                "raw": signal.raw,
            }
        )
    if kept_rows:
        connection.execute(OSINT_SIGNAL.insert(), kept_rows)
        report.kept = [str(row["id"]) for row in kept_rows]
        report.runs_started = _fire_alerts(database, connection, workspace_id, stream_id, kept_rows, now)
    return report


def _fire_alerts(  # noqa: PLR0917 -- one private call site
    database: Database,
    connection: Connection,
    workspace_id: str,
    stream_id: str | None,
    rows: list[dict[str, Any]],
    now: datetime,
) -> int:
    alerts = connection.execute(
        select(OSINT_ALERT, WORKFLOW.c.version.label("workflow_version"))
        .join(WORKFLOW, WORKFLOW.c.id == OSINT_ALERT.c.workflow_id)
        .where(
            OSINT_ALERT.c.workspace_id == workspace_id,
            OSINT_ALERT.c.is_active.is_(True),
            WORKFLOW.c.is_active.is_(True),
            or_(OSINT_ALERT.c.stream_id.is_(None), and_(OSINT_ALERT.c.stream_id == stream_id)),
        )
    ).all()
    started = 0
    for alert in alerts:
        runs = []
        for row in rows:
            if not _matches(alert, row):
                continue
            view = {
                **{k: row[k] for k in ("id", "stream_id", "source", "source_id", "url", "author", "text", "language")},
                "published_at": row["published_at"].isoformat(),
                "metadata": row["raw"],
            }
            runs.append(
                state.NewRun(
                    workflow_id=alert.workflow_id,
                    workflow_version=alert.workflow_version,
                    input={"alert": {"id": alert.id, "name": alert.name}, "signal": view},
                    trigger="osint",
                    execution_id=alert_execution_id(alert.id, str(row["id"])),
                )
            )
        if not runs:
            continue
        fired = sum(state.enqueue_new(database, connection, runs))
        started += fired
        if fired:
            connection.execute(
                update(OSINT_ALERT)
                .where(OSINT_ALERT.c.id == alert.id)
                .values(fired_count=OSINT_ALERT.c.fired_count + fired, last_fired_at=now)
            )
    return started


def _matches(alert: Any, row: dict[str, Any]) -> bool:
    if alert.sources and row["source"] not in {s.lower() for s in alert.sources}:
        return False
    if alert.authors and (row["author"] or "").lower() not in {a.lower() for a in alert.authors}:
        return False
    if alert.languages and (row["language"] or "") not in {x.lower() for x in alert.languages}:
        return False
    return not alert.keywords or matches_any(str(row["text"]), list(alert.keywords))
