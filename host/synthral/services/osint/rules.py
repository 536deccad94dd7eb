"""Changing and removing what a workspace made: alert rules and scheduled digests.

Making them is :class:`~synthral.services.osint.service.OsintService`'s job; this module
owns their later life. A change names only the fields it changes; everything it names is
checked as when the rule or schedule was made (the workflow and the stream are in the
workspace, the name is free, the cron reads), and the whole change is written or nothing.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from synthral.engine.schedules import next_fire
from synthral.errors import InputInvalid, NotFound
from synthral.services.osint.digest import DigestQuery
from synthral.services.osint.service import (
    NAME_PATTERN,
    alert_view,
    delete_owned,
    digest_schedule_view,
    name_free,
    workflow_in,
)
from synthral.store.db import Database
from synthral.store.osint_tables import OSINT_ALERT, OSINT_DIGEST, OSINT_STREAM
from synthral.store.tables import utcnow

__all__ = ["AlertChange", "DigestChange", "OsintRules"]

_EMPTY: Final = "the change names no field; give at least one of {fields}"


class AlertChange(BaseModel):
    """The fields of an alert rule to change; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    workflow_id: str | None = Field(default=None, min_length=1, max_length=64)
    stream_id: str | None = Field(default=None, max_length=64, description="null: signals of any stream.")
    keywords: list[str] | None = Field(default=None, max_length=200)
    sources: list[str] | None = Field(default=None, max_length=50)
    authors: list[str] | None = Field(default=None, max_length=200)
    languages: list[str] | None = Field(default=None, max_length=50)
    active: bool | None = Field(default=None, description="False: the rule starts nothing until made active again.")


class DigestChange(BaseModel):
    """The fields of a scheduled digest to change; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    cron: str | None = Field(default=None, min_length=9, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    workflow_id: str | None = Field(default=None, min_length=1, max_length=64)
    query: DigestQuery | None = None


def _fields(model: type[BaseModel]) -> str:
    return ", ".join(sorted(model.model_fields))


def _refuse_nulls(change: BaseModel, nullable: frozenset[str]) -> None:
    for name in sorted(change.model_fields_set - nullable):
        if getattr(change, name) is None:
            raise InputInvalid(f"{name} cannot be null; leave it out to keep its value", details={"field": name})


class OsintRules:
    """Change, list and remove a workspace's alert rules and scheduled digests."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def change_alert(self, workspace_id: str, alert_id: str, change: AlertChange) -> dict[str, Any]:
        """Change the named fields of an alert rule; return the rule.

        Raises:
            InputInvalid: The change names no field, nulls a required one, or has an empty keyword.
            NotFound: No such rule, or its new workflow or stream is not in the workspace.
            Conflict: The new name is another rule's.
        """
        given = change.model_fields_set
        if not given:
            raise InputInvalid(_EMPTY.format(fields=_fields(AlertChange)))
        _refuse_nulls(change, frozenset({"stream_id"}))
        if change.keywords is not None and any(not k.strip() for k in change.keywords):
            raise InputInvalid("a keyword is empty; remove it or give a word", details={"field": "keywords"})
        values: dict[str, JsonValue] = {}
        if change.name is not None:
            values["name"] = change.name
        if change.workflow_id is not None:
            values["workflow_id"] = change.workflow_id
        if "stream_id" in given:
            values["stream_id"] = change.stream_id
        if change.keywords is not None:
            values["keywords"] = [k.strip() for k in change.keywords]
        if change.sources is not None:
            values["sources"] = [s.lower() for s in change.sources]
        if change.authors is not None:
            values["authors"] = list(change.authors)
        if change.languages is not None:
            values["languages"] = [x.lower() for x in change.languages]
        if change.active is not None:
            values["is_active"] = change.active

        def write(connection: Connection) -> Any:
            _alert_in(connection, workspace_id, alert_id)
            if change.name is not None:
                name_free(connection, OSINT_ALERT, workspace_id, change.name, own_id=alert_id, noun="an alert")
            if change.workflow_id is not None:
                workflow_in(connection, workspace_id, change.workflow_id)
            if change.stream_id is not None:
                found = connection.execute(
                    select(OSINT_STREAM.c.id).where(
                        OSINT_STREAM.c.id == change.stream_id, OSINT_STREAM.c.workspace_id == workspace_id
                    )
                ).first()
                if found is None:
                    raise NotFound(f"no stream {change.stream_id!r}", details={"field": "stream_id"})
            connection.execute(update(OSINT_ALERT).where(OSINT_ALERT.c.id == alert_id).values(**values))
            return connection.execute(select(OSINT_ALERT).where(OSINT_ALERT.c.id == alert_id)).one()

        return alert_view(await self.database.write(write))

    async def delete_alert(self, workspace_id: str, alert_id: str) -> None:
        """Remove an alert rule; the runs it started stay.

        Raises:
            NotFound: No such rule in the workspace.
        """
        await self.database.write(
            lambda connection: delete_owned(connection, OSINT_ALERT, workspace_id, alert_id, noun="alert rule")
        )

    async def digests(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's scheduled digests, by name."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(OSINT_DIGEST).where(OSINT_DIGEST.c.workspace_id == workspace_id).order_by(OSINT_DIGEST.c.name)
            )
            return [digest_schedule_view(row) for row in rows]

    async def change_digest(self, workspace_id: str, digest_id: str, change: DigestChange) -> dict[str, Any]:
        """Change the named fields of a scheduled digest; a new cron or zone moves its next slot.

        Raises:
            InputInvalid: The change names no field, nulls one, or the cron or zone does not read.
            NotFound: No such digest, or its new workflow is not in the workspace.
            Conflict: The new name is another digest's.
        """
        if not change.model_fields_set:
            raise InputInvalid(_EMPTY.format(fields=_fields(DigestChange)))
        _refuse_nulls(change, frozenset())
        values: dict[str, Any] = {}
        if change.name is not None:
            values["name"] = change.name
        if change.workflow_id is not None:
            values["workflow_id"] = change.workflow_id
        if change.query is not None:
            values["query"] = change.query.model_dump(mode="json")

        def write(connection: Connection) -> Any:
            row = connection.execute(
                select(OSINT_DIGEST).where(OSINT_DIGEST.c.id == digest_id, OSINT_DIGEST.c.workspace_id == workspace_id)
            ).first()
            if row is None:
                raise NotFound(f"no scheduled digest {digest_id!r}", details={"digest_id": digest_id})
            if change.cron is not None or change.timezone is not None:
                cron, zone = change.cron or row.cron, change.timezone or row.timezone
                try:
                    values["next_run_at"] = next_fire(cron, zone, utcnow())
                except (ValueError, KeyError) as exc:
                    field = "cron" if change.cron is not None else "timezone"
                    raise InputInvalid(
                        f"the cron {cron!r} in {zone!r} is not valid ({exc}); give five cron fields and an IANA "
                        "time zone",
                        details={"field": field},
                    ) from None
                values["cron"], values["timezone"] = cron, zone
            if change.name is not None:
                name_free(connection, OSINT_DIGEST, workspace_id, change.name, own_id=digest_id, noun="a digest")
            if change.workflow_id is not None:
                workflow_in(connection, workspace_id, change.workflow_id)
            connection.execute(update(OSINT_DIGEST).where(OSINT_DIGEST.c.id == digest_id).values(**values))
            return connection.execute(select(OSINT_DIGEST).where(OSINT_DIGEST.c.id == digest_id)).one()

        return digest_schedule_view(await self.database.write(write))

    async def delete_digest(self, workspace_id: str, digest_id: str) -> None:
        """Stop sending a scheduled digest and remove it; the runs it started stay.

        Raises:
            NotFound: No such digest in the workspace.
        """
        await self.database.write(
            lambda connection: delete_owned(connection, OSINT_DIGEST, workspace_id, digest_id, noun="scheduled digest")
        )


def _alert_in(connection: Connection, workspace_id: str, alert_id: str) -> None:
    found = connection.execute(
        select(OSINT_ALERT.c.id).where(OSINT_ALERT.c.id == alert_id, OSINT_ALERT.c.workspace_id == workspace_id)
    ).first()
    if found is None:
        raise NotFound(f"no alert rule {alert_id!r}", details={"alert_id": alert_id})
