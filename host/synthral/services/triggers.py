"""What starts a workflow, for people: its schedules with their next slots, its webhook subscription.

Schedules are the rows :func:`synthral.engine.schedules.sync_schedules` keeps in line with
the latest version's cron triggers; the next slots are computed the way the scheduler fires
them. The webhook subscription is described without its secrets, which are shown once, when
they are made (:meth:`synthral.services.webhooks.WebhookService.subscribe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from synthral.engine.model import WebhookTrigger
from synthral.engine.repository import get_workflow_row
from synthral.engine.schedules import as_utc, next_fire
from synthral.errors import NotFound
from synthral.services.secrets import CredentialService
from synthral.services.webhooks import webhook_credential
from synthral.services.workflows import WorkflowService
from synthral.store.tables import SCHEDULE

__all__ = ["ScheduleView", "TriggerService", "WebhookView"]

MAX_UPCOMING = 20


@dataclass(frozen=True)
class ScheduleView:
    """A cron trigger as the scheduler sees it, with its next slots (UTC and in its own zone)."""

    id: str
    trigger_index: int
    cron: str
    timezone: str
    catch_up: str
    is_active: bool
    input: dict[str, Any]
    next_run_at: str | None
    last_run_at: str | None
    fired_count: int
    missed_count: int
    upcoming: list[dict[str, str]]


@dataclass(frozen=True)
class WebhookView:
    """A workflow's webhook trigger and subscription, never its secrets."""

    workflow_id: str
    has_trigger: bool
    connector: str | None
    path: str | None
    scheme: str | None
    subscribed: bool
    rotated_at: str | None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


class TriggerService:
    """Schedules and webhook subscriptions of a workspace's workflows."""

    def __init__(self, workflows: WorkflowService, credentials: CredentialService) -> None:
        self.workflows = workflows
        self.credentials = credentials

    async def schedules(
        self, workflow: str, *, workspace_id: str, upcoming: int = 5, now: datetime | None = None
    ) -> list[ScheduleView]:
        """The workflow's schedules, each with its next ``upcoming`` slots (at most 20).

        Raises:
            WorkflowNotFound: No such workflow in the workspace.
        """
        count = max(0, min(upcoming, MAX_UPCOMING))
        moment = now or datetime.now(UTC)
        database = self.workflows.database
        async with database.engine.connect() as connection:
            row = await get_workflow_row(connection, workflow, workspace_id)
            rows = (
                await connection.execute(
                    select(SCHEDULE).where(SCHEDULE.c.workflow_id == row.id).order_by(SCHEDULE.c.trigger_index)
                )
            ).all()
        views = []
        for schedule in rows:
            zone = ZoneInfo(schedule.timezone)
            slots: list[dict[str, str]] = []
            after = moment
            while schedule.is_active and len(slots) < count:
                slot = next_fire(schedule.cron_expression, schedule.timezone, after)
                if slot is None:
                    break
                slots.append({"utc": slot.isoformat(), "local": slot.astimezone(zone).isoformat()})
                after = slot
            views.append(
                ScheduleView(
                    id=schedule.id,
                    trigger_index=schedule.trigger_index,
                    cron=schedule.cron_expression,
                    timezone=schedule.timezone,
                    catch_up=schedule.catch_up,
                    is_active=schedule.is_active,
                    input=dict(schedule.input or {}),
                    next_run_at=_iso(schedule.next_run_at),
                    last_run_at=_iso(schedule.last_run_at),
                    fired_count=schedule.fired_count,
                    missed_count=schedule.missed_count,
                    upcoming=slots,
                )
            )
        return views

    async def webhook(self, workflow: str, *, workspace_id: str) -> WebhookView:
        """The workflow's webhook trigger and whether a signing secret has been made for it.

        Raises:
            WorkflowNotFound: No such workflow in the workspace.
        """
        saved = await self.workflows.get(workflow, workspace_id=workspace_id)
        trigger = next((t for t in saved.workflow.triggers if isinstance(t, WebhookTrigger)), None)
        if trigger is None:
            return WebhookView(saved.workflow_id, False, None, None, None, False, None)
        if trigger.connector:
            path = f"/api/v1/connectors/{trigger.connector}/webhook?workflow={saved.workflow_id}"
        else:
            path = f"/api/v1/hooks/{saved.workflow_id}"
        try:
            view = await self.credentials.view(workspace_id, webhook_credential(saved.workflow_id))
        except NotFound:
            return WebhookView(saved.workflow_id, True, trigger.connector, path, None, False, None)
        return WebhookView(
            workflow_id=saved.workflow_id,
            has_trigger=True,
            connector=trigger.connector,
            path=path,
            scheme=str(view.meta.get("scheme") or "") or None,
            subscribed=True,
            rotated_at=_iso(view.updated_at),
        )
