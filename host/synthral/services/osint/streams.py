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
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from synthral.engine.runtime import Engine
from synthral.errors import SynthralError
from synthral.security.redact import Redactor
from synthral.services.osint.digest import send_due_digests
from synthral.services.osint.ingest import IngestReport, ingest
from synthral.services.osint.signals import NoiseFilter, Signal, normalise
from synthral.store.osint_tables import OSINT_STREAM
from synthral.store.tables import utcnow

__all__ = ["MAX_EVENTS", "OsintStreams", "StreamReport"]

log = logging.getLogger("synthral.services.osint")

CLAIM_SECONDS: Final = 300.0
"""How long a scheduler holds a stream; a poll that takes longer is abandoned to the next one."""
MAX_EVENTS: Final = 1_000
"""Events one poll may report; a source pages the rest through its cursor."""


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


class OsintStreams:
    """Polls the due OSINT streams of every workspace and sends the due digests.

    Args:
        engine: Its database, plugin host and secret resolver are used.
        owner_id: This scheduler's name, recorded in ``claimed_by``.
        on_start: Called after a pass queued runs (e.g. ``Engine.notify``).
        concurrency: Polls in flight at once.
    """

    def __init__(self, engine: Engine, *, owner_id: str, on_start: Any = None, concurrency: int = 4) -> None:
        self.engine = engine
        self.database = engine.database
        self.owner_id = owner_id
        self.on_start = on_start
        self.gate = asyncio.Semaphore(concurrency)

    async def tick(self, now: datetime | None = None) -> StreamReport:
        """Poll every due stream not held by another scheduler; send the due digests."""
        now = now or utcnow()
        free = or_(OSINT_STREAM.c.claimed_until.is_(None), OSINT_STREAM.c.claimed_until < now)
        async with self.database.engine.connect() as connection:
            ids = list(
                (
                    await connection.execute(
                        select(OSINT_STREAM.c.id)
                        .where(OSINT_STREAM.c.next_poll_at <= now, OSINT_STREAM.c.is_active.is_(True), free)
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
            stream = await self._claim(stream_id)
            if stream is None:
                return  # another scheduler took it first
            try:
                batch = await self._poll_claimed(stream)
            except (SynthralError, OSError) as exc:
                message = exc.message if isinstance(exc, SynthralError) else str(exc)
                report.errors.append(f"stream {stream.name} ({stream.capability}): {message}")
                log.warning("osint stream %s (%s) failed: %s", stream.id, stream.capability, message)
                await self.database.write(lambda connection: self._record_failure(connection, stream, message))
                return
            if batch is not None:
                report.add(batch)

    async def _claim(self, stream_id: str) -> Any:
        now = utcnow()

        def claim(connection: Connection) -> Any:
            taken = connection.execute(
                update(OSINT_STREAM)
                .where(
                    OSINT_STREAM.c.id == stream_id,
                    OSINT_STREAM.c.next_poll_at <= now,
                    or_(OSINT_STREAM.c.claimed_until.is_(None), OSINT_STREAM.c.claimed_until < now),
                )
                .values(claimed_by=self.owner_id, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if not taken.rowcount:
                return None
            return connection.execute(select(OSINT_STREAM).where(OSINT_STREAM.c.id == stream_id)).one()

        return await self.database.write(claim)

    async def _poll_claimed(self, stream: Any) -> IngestReport | None:
        handle = self.engine.plugins.resolve(stream.capability)
        names = list(stream.secrets or [])
        secrets = await self.engine.secrets(names, stream.workspace_id) if names else {}
        redactor = Redactor()
        redactor.add(*secrets.values())
        config = dict(stream.config or {})
        if stream.backfill_since is not None:
            config["since"] = stream.backfill_since.isoformat()
        context = self.engine.plugins.context(secrets=secrets, node_id=f"osint:{stream.id}")
        try:
            answer = await handle.call("poll", config, {"state": stream.state}, context)
        except SynthralError as exc:
            raise redactor.error(exc) from None
        reported = answer.get("events")
        events = [e for e in reported if isinstance(e, dict)] if isinstance(reported, list) else []
        if len(events) > MAX_EVENTS:
            raise SynthralError(
                f"the source reported {len(events)} events in one poll, over the limit of {MAX_EVENTS}; it should "
                "report fewer and continue from its cursor at the next poll"
            )
        now = utcnow()
        default_source = stream.capability.partition("/")[0].removeprefix("osint-")
        signals: list[Signal] = []
        for event in events:
            signal = normalise(redactor.value(event), default_source=default_source, now=now)
            if signal is not None:
                signals.append(signal)
        new_state = answer.get("state")
        noise = NoiseFilter.model_validate(stream.filters or {})

        def commit(connection: Connection) -> IngestReport | None:
            mine = connection.execute(
                update(OSINT_STREAM)
                .where(OSINT_STREAM.c.id == stream.id, OSINT_STREAM.c.claimed_by == self.owner_id)
                .values(claimed_by=None, claimed_until=None)
            )
            if not mine.rowcount:
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
                    state=new_state if isinstance(new_state, dict) else None,
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

    def _record_failure(self, connection: Connection, stream: Any, message: str) -> None:
        now = utcnow()
        connection.execute(
            update(OSINT_STREAM)
            .where(OSINT_STREAM.c.id == stream.id, OSINT_STREAM.c.claimed_by == self.owner_id)
            .values(
                claimed_by=None,
                claimed_until=None,
                last_error=message[:2000],
                next_poll_at=now + timedelta(seconds=float(stream.interval_seconds)),
            )
        )

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Pass over the due streams every ``interval`` seconds until ``stop`` is set.

        A database outage is logged once (and its end once) while the loop backs off; other
        errors are logged and the loop goes on.
        """
        outage = self.engine.outage
        while not stop.is_set():
            pause = interval
            try:
                report = await self.tick()
                outage.recovered(wrote=report.polled > 0)
            except Exception as exc:  # the streams outlive database outages; the next pass retries
                trouble = self.database.unavailable(exc)
                if trouble is None:
                    log.exception("osint stream pass failed; retrying in %.1f s", interval)
                else:
                    pause = max(interval, outage.failed(trouble))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
