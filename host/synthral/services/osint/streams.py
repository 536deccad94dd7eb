"""Live OSINT streams, owned by the scheduler: each subscription polled from its stored cursor.

A stream (``osint_stream``) names a source trigger (``osint-news/feed``), its config and an
interval. The scheduler process runs an :class:`OsintStreams` beside its cron scheduler and
trigger poller; each pass it claims the due streams (``claimed_by`` until
``claimed_until``, so two schedulers never poll one stream at once and a dead one's claim
expires), asks the trigger for what is new since the stored cursor, and commits in one
transaction the kept signals, the runs their alert rules start and the new cursor. So:

- a scheduler that dies after the call and before the commit leaves the old cursor: the
  next one (after a restart, or another process) asks again and stores each signal once
  (a signal already stored, by source and source id, is a repeat, not a new signal);
- historical backfill: a stream made with ``backfill_since`` hands ``since`` to its trigger,
  which reports the history from then on before the live items (the cursor takes over).

The same pass sends the scheduled digests that are due (:mod:`synthral.services.osint.digest`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from synthral.engine.leases import Leases, PassLoop, poll_source
from synthral.engine.runtime import Engine
from synthral.errors import SynthralError
from synthral.services.osint.digest import send_due_digests
from synthral.services.osint.ingest import IngestReport, ingest
from synthral.services.osint.signals import NoiseFilter, Signal, normalise
from synthral.store.osint_tables import OSINT_DIGEST, OSINT_STREAM
from synthral.store.tables import utcnow

__all__ = ["OsintStreams", "StreamReport"]

log = logging.getLogger("synthral.services.osint")


@dataclass
class StreamReport:
    """What one pass over the due streams did."""

    polled: int = 0
    kept: int = 0
    repeated: int = 0
    duplicates: int = 0
    filtered: int = 0
    runs_started: int = 0
    digests_sent: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, batch: IngestReport) -> None:
        """Count one committed poll's batch."""
        self.polled += 1
        self.kept += len(batch.kept)
        self.repeated += batch.repeated
        self.duplicates += batch.duplicates
        self.filtered += batch.filtered
        self.runs_started += batch.runs_started


class OsintStreams(PassLoop):
    """Polls the due OSINT streams of every workspace and sends the due digests.

    Args:
        engine: Its database, plugin host and secret resolver are used.
        owner_id: This scheduler's name, recorded in ``claimed_by``.
        on_start: Called after a pass queued runs (e.g. ``Engine.notify``).
        concurrency: Polls in flight at once.
    """

    loop_log = log
    loop_name = "osint stream pass"

    def __init__(self, engine: Engine, *, owner_id: str, on_start: Any = None, concurrency: int = 4) -> None:
        self.engine = engine
        self.database = engine.database
        self.owner_id = owner_id
        self.on_start = on_start
        self.gate = asyncio.Semaphore(concurrency)
        self.leases = Leases(OSINT_STREAM, owner_id)

    async def tick(self, now: datetime | None = None) -> StreamReport:
        """Poll every due stream not held by another scheduler; send the due digests."""
        now = now or utcnow()
        async with self.database.engine.connect() as connection:
            ids = list(
                (
                    await connection.execute(
                        select(OSINT_STREAM.c.id)
                        .where(
                            OSINT_STREAM.c.next_poll_at <= now,
                            OSINT_STREAM.c.is_active.is_(True),
                            self.leases.free(now),
                        )
                        .order_by(OSINT_STREAM.c.next_poll_at)
                    )
                ).scalars()
            )
        report = StreamReport()
        await asyncio.gather(*(self._poll(stream_id, report) for stream_id in ids))
        report.digests_sent = await send_due_digests(self.database, now)
        if (report.runs_started or report.digests_sent) and self.on_start is not None:
            self.on_start()
        return report

    async def _poll(self, stream_id: str, report: StreamReport) -> None:
        async with self.gate:
            stream = await self.database.write(lambda connection: self.leases.claim(connection, stream_id))
            if stream is None:
                return  # another scheduler took it first
            try:
                batch = await self._poll_claimed(stream)
            except (SynthralError, OSError) as exc:
                message = exc.message if isinstance(exc, SynthralError) else str(exc)
                report.errors.append(f"stream {stream.name} ({stream.capability}): {message}")
                log.warning("osint stream %s (%s) failed: %s", stream.id, stream.capability, message)
                await self.database.write(lambda connection: self.leases.fail(connection, stream, message))
                return
            if batch is not None:
                report.add(batch)

    async def _poll_claimed(self, stream: Any) -> IngestReport | None:
        config = dict(stream.config or {})
        if stream.backfill_since is not None:
            config["since"] = stream.backfill_since.isoformat()
        polled = await poll_source(
            self.engine,
            self.engine.plugins.resolve(stream.capability),
            config=config,
            state=stream.state,
            secrets=list(stream.secrets or []),
            workspace_id=stream.workspace_id,
            node_id=f"osint:{stream.id}",
            noun="source",
        )
        events, redactor = polled.events, polled.redactor
        now = utcnow()
        default_source = stream.capability.partition("/")[0].removeprefix("osint-")
        signals: list[Signal] = []
        for event in events:
            signal = normalise(redactor.value(event), default_source=default_source, now=now)
            if signal is not None:
                signals.append(signal)
        noise = NoiseFilter.model_validate(stream.filters or {})

        def commit(connection: Connection) -> IngestReport | None:
            if not self.leases.release(connection, stream.id):
                return None  # the claim expired and another scheduler took over: it polls again
            batch = ingest(
                self.database,
                connection,
                workspace_id=stream.workspace_id,
                stream_id=stream.id,
                signals=signals,
                noise=noise,
                now=now,
            )
            batch.filtered += len(events) - len(signals)  # no id or no text: nothing to keep
            connection.execute(
                update(OSINT_STREAM)
                .where(OSINT_STREAM.c.id == stream.id)
                .values(
                    state=polled.state,
                    last_polled_at=now,
                    next_poll_at=now + timedelta(seconds=float(stream.interval_seconds)),
                    last_error=None,
                    polls=OSINT_STREAM.c.polls + 1,
                    signals=OSINT_STREAM.c.signals + len(batch.kept),
                    duplicates=OSINT_STREAM.c.duplicates + batch.duplicates,
                    filtered=OSINT_STREAM.c.filtered + batch.filtered,
                )
            )
            return batch

        return await self.database.write(commit)

    async def next_due(self) -> datetime | None:
        """When the next active stream or digest is due (None: there is none)."""
        async with self.database.engine.connect() as connection:
            stream = (await connection.execute(self.leases.next_due(OSINT_STREAM.c.is_active.is_(True)))).scalar()
            digest = (await connection.execute(select(func.min(OSINT_DIGEST.c.next_run_at)))).scalar()
        return min((due for due in (stream, digest) if isinstance(due, datetime)), default=None)
