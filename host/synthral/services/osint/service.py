"""OSINT for people and the API: subscribe to streams, make alert rules, build and schedule digests.

Every call acts in one workspace: streams, alerts, digests and signals of another workspace
are not found. The scheduler polls the streams and sends the digests
(:class:`~synthral.services.osint.streams.OsintStreams`); this service only writes what it
should do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection

from synthral.engine.schedules import as_utc, next_fire
from synthral.errors import Conflict, InputInvalid, NotFound
from synthral.services.osint.digest import DigestQuery, build_digest
from synthral.services.osint.signals import NoiseFilter
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.osint_tables import OSINT_ALERT, OSINT_DIGEST, OSINT_STREAM
from synthral.store.tables import WORKFLOW, new_id, utcnow

__all__ = [
    "NAME_PATTERN",
    "AlertRequest",
    "DigestRequest",
    "OsintService",
    "StreamRequest",
    "delete_owned",
    "name_free",
    "workflow_in",
]

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
_CAPABILITY: Final = r"^[a-z0-9][a-z0-9_-]{0,63}/[a-z0-9][a-z0-9_]{0,63}$"


class StreamRequest(BaseModel):
    """A live subscription to a source, with optional history first."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique in the workspace.")
    source: str = Field(pattern=_CAPABILITY, description="The source trigger, 'plugin/trigger' (osint-news/feed).")
    config: dict[str, Any] = Field(default_factory=dict, description="The trigger's config (its schema applies).")
    secrets: list[str] = Field(default_factory=list, max_length=20, description="Credentials the source is given.")
    interval: float = Field(default=300.0, ge=5.0, le=86_400.0, description="Seconds between polls.")
    backfill_since: datetime | None = Field(
        default=None, description="Fetch the history published since this moment first (the source must support it)."
    )
    filters: NoiseFilter = Field(default_factory=NoiseFilter, description="What is dropped as noise.")


class AlertRequest(BaseModel):
    """A rule: signals that match start a workflow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    workflow_id: str = Field(min_length=1, max_length=64, description="The workflow each matching signal starts.")
    stream_id: str | None = Field(default=None, max_length=64, description="Only this stream's signals.")
    keywords: list[str] = Field(default_factory=list, max_length=200, description="Any of these (empty: any text).")
    sources: list[str] = Field(default_factory=list, max_length=50)
    authors: list[str] = Field(default_factory=list, max_length=200)
    languages: list[str] = Field(default_factory=list, max_length=50)


class DigestSchedule(BaseModel):
    """Send the digest on a schedule as the input of a workflow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    cron: str = Field(min_length=9, max_length=100, description="Five-field cron, e.g. '0 8 * * *'.")
    timezone: str = Field(default="UTC", max_length=64)
    workflow_id: str = Field(min_length=1, max_length=64)


class DigestRequest(BaseModel):
    """A digest now, and optionally a schedule that sends it again at each slot."""

    model_config = ConfigDict(extra="forbid")

    query: DigestQuery = Field(default_factory=DigestQuery)
    schedule: DigestSchedule | None = None


@dataclass(frozen=True)
class Made:
    """What a write made: its id and its view."""

    id: str
    view: dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def stream_view(row: Any) -> dict[str, Any]:
    """A stream for people (its cursor is the scheduler's business, but shown for diagnosis)."""
    return {
        "id": row.id,
        "name": row.name,
        "source": row.capability,
        "config": row.config,
        "secrets": list(row.secrets or []),
        "interval": row.interval_seconds,
        "is_active": row.is_active,
        "backfill_since": _iso(row.backfill_since),
        "filters": row.filters,
        "cursor": row.state,
        "next_poll_at": _iso(row.next_poll_at),
        "last_polled_at": _iso(row.last_polled_at),
        "last_error": row.last_error,
        "polls": row.polls,
        "signals": row.signals,
        "duplicates": row.duplicates,
        "filtered": row.filtered,
        "created_at": _iso(row.created_at),
    }


def alert_view(row: Any) -> dict[str, Any]:
    """An alert rule with how often it fired."""
    return {
        "id": row.id,
        "name": row.name,
        "workflow_id": row.workflow_id,
        "stream_id": row.stream_id,
        "keywords": row.keywords,
        "sources": row.sources,
        "authors": row.authors,
        "languages": row.languages,
        "is_active": row.is_active,
        "fired_count": row.fired_count,
        "last_fired_at": _iso(row.last_fired_at),
        "created_at": _iso(row.created_at),
    }


def digest_schedule_view(row: Any) -> dict[str, Any]:
    """A scheduled digest."""
    return {
        "id": row.id,
        "name": row.name,
        "cron": row.cron,
        "timezone": row.timezone,
        "workflow_id": row.workflow_id,
        "query": row.query,
        "next_run_at": _iso(row.next_run_at),
        "last_run_at": _iso(row.last_run_at),
        "sent_count": row.sent_count,
    }


class OsintService:
    """Streams, alerts and digests of a workspace."""

    def __init__(self, database: Database, workflows: WorkflowService) -> None:
        self.database = database
        self.workflows = workflows

    def _check_source(self, request: StreamRequest) -> None:
        probe = {
            "name": "osint-stream",
            "nodes": [{"id": "start", "type": "core/noop"}],
            "triggers": [{"type": "poll", "trigger": request.source, "config": request.config, "interval": 60}],
        }
        issues = [i for i in self.workflows.check(probe) if i.pointer.startswith("/triggers/0")]
        if issues:
            problems: list[JsonValue] = [
                {"field": _field_of(i.pointer), "code": i.code, "message": i.message} for i in issues
            ]
            raise InputInvalid(f"the stream's source is not usable: {issues[0].message}", details={"issues": problems})
        if request.backfill_since is not None:
            schema = self._config_schema(request.source)
            if "since" not in (schema.get("properties") or {}):
                raise InputInvalid(
                    f"the source {request.source} cannot fetch history (its config has no 'since'); leave out "
                    "backfill_since or choose a source that supports it",
                    details={"field": "backfill_since"},
                )

    def _config_schema(self, capability: str) -> dict[str, Any]:
        schema = self.workflows.plugins.resolve(capability).spec().config_schema  # checked above: it resolves
        return schema if isinstance(schema, dict) else {}

    async def subscribe(self, workspace_id: str, user_id: str | None, request: StreamRequest) -> Made:
        """Start a live stream (polled by the scheduler from the next pass on).

        Raises:
            InputInvalid: The source is not an installed trigger, its config does not fit, or it
                cannot backfill.
            Conflict: A stream of that name exists in the workspace.
        """
        self._check_source(request)
        now = utcnow()
        row = {
            "id": new_id(),
            "workspace_id": workspace_id,
            "name": request.name,
            "capability": request.source,
            "config": request.config,
            "secrets": request.secrets,
            "filters": request.filters.model_dump(mode="json"),
            "interval_seconds": request.interval,
            "is_active": True,
            "state": None,
            "backfill_since": None if request.backfill_since is None else as_utc(request.backfill_since),
            "next_poll_at": now,
            "polls": 0,
            "signals": 0,
            "duplicates": 0,
            "filtered": 0,
            "created_by": user_id,
            "created_at": now,
        }

        def write(connection: Connection) -> Any:
            name_free(connection, OSINT_STREAM, workspace_id, request.name, noun="a stream")
            connection.execute(OSINT_STREAM.insert().values(**row))
            return connection.execute(select(OSINT_STREAM).where(OSINT_STREAM.c.id == row["id"])).one()

        made = await self.database.write(write)
        return Made(made.id, stream_view(made))

    async def streams(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's streams, by name."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(OSINT_STREAM).where(OSINT_STREAM.c.workspace_id == workspace_id).order_by(OSINT_STREAM.c.name)
            )
            return [stream_view(row) for row in rows]

    async def set_stream_active(self, workspace_id: str, stream_id: str, active: bool) -> dict[str, Any]:
        """Pause (False) or resume (True) a stream; a resumed stream is polled at the next pass, from its cursor.

        Raises:
            NotFound: No such stream in the workspace.
        """

        def write(connection: Connection) -> Any:
            values: dict[str, Any] = {"is_active": active}
            if active:
                values["next_poll_at"] = utcnow()
            done = connection.execute(
                update(OSINT_STREAM)
                .where(OSINT_STREAM.c.id == stream_id, OSINT_STREAM.c.workspace_id == workspace_id)
                .values(**values)
            )
            if not done.rowcount:
                raise NotFound(f"no stream {stream_id!r}", details={"stream_id": stream_id})
            return connection.execute(select(OSINT_STREAM).where(OSINT_STREAM.c.id == stream_id)).one()

        return stream_view(await self.database.write(write))

    async def delete_stream(self, workspace_id: str, stream_id: str) -> None:
        """Remove a stream and its alert rules; the signals it brought stay (without their stream).

        Raises:
            NotFound: No such stream in the workspace.
        """
        await self.database.write(
            lambda connection: delete_owned(connection, OSINT_STREAM, workspace_id, stream_id, noun="stream")
        )

    async def create_alert(self, workspace_id: str, user_id: str | None, request: AlertRequest) -> Made:
        """Make an alert rule.

        Raises:
            NotFound: The workflow or the stream is not in the workspace.
            InputInvalid: A keyword is empty.
            Conflict: A rule of that name exists.
        """
        if any(not k.strip() for k in request.keywords):
            raise InputInvalid("a keyword is empty; remove it or give a word", details={"field": "keywords"})
        now = utcnow()

        def write(connection: Connection) -> Any:
            workflow_in(connection, workspace_id, request.workflow_id)
            if request.stream_id is not None:
                found = connection.execute(
                    select(OSINT_STREAM.c.id).where(
                        OSINT_STREAM.c.id == request.stream_id, OSINT_STREAM.c.workspace_id == workspace_id
                    )
                ).first()
                if found is None:
                    raise NotFound(f"no stream {request.stream_id!r}", details={"field": "stream_id"})
            name_free(connection, OSINT_ALERT, workspace_id, request.name, noun="an alert")
            alert_id = new_id()
            connection.execute(
                OSINT_ALERT.insert().values(
                    id=alert_id,
                    workspace_id=workspace_id,
                    name=request.name,
                    workflow_id=request.workflow_id,
                    stream_id=request.stream_id,
                    keywords=[k.strip() for k in request.keywords],
                    sources=[s.lower() for s in request.sources],
                    authors=request.authors,
                    languages=[x.lower() for x in request.languages],
                    is_active=True,
                    fired_count=0,
                    created_by=user_id,
                    created_at=now,
                )
            )
            return connection.execute(select(OSINT_ALERT).where(OSINT_ALERT.c.id == alert_id)).one()

        made = await self.database.write(write)
        return Made(made.id, alert_view(made))

    async def alerts(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's alert rules, by name, with how often each fired."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(OSINT_ALERT).where(OSINT_ALERT.c.workspace_id == workspace_id).order_by(OSINT_ALERT.c.name)
            )
            return [alert_view(row) for row in rows]

    async def digest(self, workspace_id: str, request: DigestRequest, now: datetime | None = None) -> dict[str, Any]:
        """The digest of the query's window now; with a schedule, also keep sending it at each slot.

        Raises:
            InputInvalid: The cron or the time zone is not valid.
            NotFound: The schedule's workflow is not in the workspace.
            Conflict: A scheduled digest of that name exists.
        """
        moment = as_utc(now or utcnow())
        async with self.database.engine.connect() as connection:
            digest = await connection.run_sync(lambda sync: build_digest(sync, workspace_id, request.query, moment))
        if request.schedule is None:
            return {"digest": digest, "schedule": None}
        schedule = request.schedule
        try:
            following = next_fire(schedule.cron, schedule.timezone, moment)
        except (ValueError, KeyError) as exc:
            raise InputInvalid(
                f"the schedule's cron {schedule.cron!r} in {schedule.timezone!r} is not valid ({exc}); give five "
                "cron fields and an IANA time zone",
                details={"field": "schedule.cron"},
            ) from None

        def write(connection: Connection) -> Any:
            workflow_in(connection, workspace_id, schedule.workflow_id)
            name_free(connection, OSINT_DIGEST, workspace_id, schedule.name, noun="a digest", field="schedule.name")
            digest_id = new_id()
            connection.execute(
                OSINT_DIGEST.insert().values(
                    id=digest_id,
                    workspace_id=workspace_id,
                    name=schedule.name,
                    cron=schedule.cron,
                    timezone=schedule.timezone,
                    query=request.query.model_dump(mode="json"),
                    workflow_id=schedule.workflow_id,
                    next_run_at=following,
                    sent_count=0,
                    created_at=moment,
                )
            )
            return connection.execute(select(OSINT_DIGEST).where(OSINT_DIGEST.c.id == digest_id)).one()

        row = await self.database.write(write)
        return {"digest": digest, "schedule": digest_schedule_view(row)}


def _field_of(pointer: str) -> str:
    """The request field a probe workflow's trigger issue is about."""
    if pointer.endswith("/trigger"):
        return "source"
    return "config" + pointer.removeprefix("/triggers/0/config").replace("/", ".")


def name_free(
    connection: Connection,
    table: Table,
    workspace_id: str,
    name: str,
    *,
    noun: str,
    own_id: str | None = None,
    field: str = "name",
) -> None:
    """Raise Conflict (naming ``field``) when another row of the workspace has that name."""
    query = select(table.c.id).where(table.c.workspace_id == workspace_id, table.c.name == name)
    if own_id is not None:
        query = query.where(table.c.id != own_id)
    if connection.execute(query).first() is not None:
        raise Conflict(f"{noun} named {name!r} exists in this workspace; choose another name", details={"field": field})


def delete_owned(connection: Connection, table: Table, workspace_id: str, row_id: str, *, noun: str) -> None:
    """Delete the workspace's row; raise NotFound (``details['id']``) when it has none of that id."""
    done = connection.execute(delete(table).where(table.c.id == row_id, table.c.workspace_id == workspace_id))
    if not done.rowcount:
        raise NotFound(f"no {noun} {row_id!r}", details={"id": row_id})


def workflow_in(connection: Connection, workspace_id: str, workflow_id: str) -> None:
    """Raise NotFound (naming the field ``workflow_id``) unless the workflow is in the workspace."""
    found = connection.execute(
        select(WORKFLOW.c.id).where(WORKFLOW.c.id == workflow_id, WORKFLOW.c.workspace_id == workspace_id)
    ).first()
    if found is None:
        raise NotFound(f"no workflow {workflow_id!r} in this workspace", details={"field": "workflow_id"})
