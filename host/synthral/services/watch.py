"""Change detection: pages (or parts of pages) checked on a schedule, diffed against their last version.

A watch is a :class:`ChangeDetection` row and a small scheduled workflow, ``watch.<id>``, whose
one ``watch/page`` step calls :meth:`WatchService.check`. A check renders the page on the
watch's engine (static HTML, or a browser for JavaScript pages), takes the selected part's
text, drops the noise the filters name, and compares it with the stored version. When it
changed, the diff is stored and the watch's ``on_change`` fires: a new run of a workflow, or
a signal to it, carrying the diff.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import select, update

from synthral.engine.model import CronTrigger, Node, Workflow
from synthral.engine.schedules import next_fire
from synthral.errors import InputInvalid, NotFound, SynthralError
from synthral.services.scraping import ScrapeRequest, ScrapingService, _check_url
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import new_id, utcnow
from synthral.store.web_tables import CHANGE_DETECTION
from synthral_sdk.web import NoiseFilters, Politeness, content_checksum, filter_noise, text_diff

__all__ = ["ChangeCheck", "OnChange", "WatchRequest", "WatchService"]

WATCH = CHANGE_DETECTION
DEFAULT_WATCH_ENGINE: Final = "scrape-html/scrape"
BROWSER_WATCH_ENGINE: Final = "scrape-playwright/render"


class OnChange(BaseModel):
    """What happens when the page changed."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(description="The workflow (name or id) to start, or to signal.")
    signal: str | None = Field(default=None, description="Send this signal instead of starting a run.")


class WatchRequest(BaseModel):
    """A page to watch."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=8192)
    selector: str | None = Field(default=None, max_length=1000, description="Watch only this part (CSS).")
    engine: str = Field(
        default=DEFAULT_WATCH_ENGINE, description="scrape-html/scrape, or a browser engine for JS pages."
    )
    filters: NoiseFilters = Field(default_factory=NoiseFilters)
    schedule: str | None = Field(default="*/15 * * * *", description="Cron expression of the checks; null: on demand.")
    on_change: OnChange | None = None
    politeness: Politeness | None = None
    check_now: bool = Field(default=True, description="Take the first version now.")


class ChangeCheck(BaseModel):
    """What one check found."""

    watch_id: str
    url: str
    changed: bool
    first: bool = Field(description="The first check: nothing to compare with yet.")
    checksum: str
    diff: str = ""
    text: str = ""
    started: str | None = Field(default=None, description="The run started (or signalled) by the change.")


def _workspace_is(workspace_id: str | None) -> Any:
    return WATCH.c.workspace_id.is_(None) if workspace_id is None else WATCH.c.workspace_id == workspace_id


class WatchService:
    """Watches pages for changes and fires what the watch says when they change."""

    def __init__(self, database: Database, scraping: ScrapingService, workflows: WorkflowService) -> None:
        self.database = database
        self.scraping = scraping
        self.workflows = workflows

    async def create(
        self, request: WatchRequest, *, workspace_id: str | None, user_id: str | None = None
    ) -> dict[str, Any]:
        """Make a watch, its scheduled workflow, and (by default) its first version.

        Raises:
            InputInvalid: The URL or the cron expression is wrong (named).
        """
        _check_url(request.url, "url")
        self.scraping.plugins.resolve(request.engine)
        if request.schedule is not None:
            try:
                next_fire(request.schedule, "UTC", utcnow())
            except ValueError as exc:
                raise InputInvalid(
                    f"schedule {request.schedule!r} is not a cron expression ({exc}); "
                    "write five fields, e.g. '*/15 * * * *'",
                    details={"field": "schedule"},
                ) from None
        watch_id = new_id()
        row: dict[str, Any] = {
            "id": watch_id,
            "workspace_id": workspace_id,
            "url": request.url,
            "selector": request.selector,
            "engine": request.engine,
            "filters": request.filters.model_dump(),
            "schedule": request.schedule,
            "on_change": request.on_change.model_dump() if request.on_change else None,
            "status": "active",
            "created_by": user_id,
            "created_at": utcnow(),
            "checks": 0,
            "changes": 0,
            "last_error": None,
        }
        if request.politeness is not None:
            row["filters"] = {**row["filters"], "politeness": request.politeness.model_dump(exclude_unset=True)}
        await self.database.write(lambda c: c.execute(WATCH.insert(), row))
        if request.schedule is not None:
            workflow = Workflow(
                name=f"watch.{watch_id[:8]}",
                description=f"Checks {request.url[:200]} for changes (change detection {watch_id}).",
                nodes=[Node(id="check", type="watch/page", config={"watch_id": watch_id})],
                triggers=[CronTrigger(cron=request.schedule)],
            )
            saved = await self.workflows.save(workflow, workspace_id=workspace_id, owner_id=user_id)
            await self.database.write(
                lambda c: c.execute(update(WATCH).where(WATCH.c.id == watch_id).values(workflow_id=saved.workflow_id))
            )
        if request.check_now:
            await self.check(watch_id)
        return await self.get(workspace_id, watch_id)

    async def get(self, workspace_id: str | None, watch_id: str) -> dict[str, Any]:
        """A watch's record.

        Raises:
            NotFound: No such watch in the workspace.
        """
        async with self.database.engine.connect() as connection:
            row = (
                (await connection.execute(select(WATCH).where(WATCH.c.id == watch_id, _workspace_is(workspace_id))))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no change detection {watch_id!r} in this workspace", details={"watch_id": watch_id})
        return dict(row)

    async def find_or_create(self, workspace_id: str | None, request: WatchRequest) -> str:
        """The watch of ``request``'s URL, selector and engine in the workspace, made (unscheduled) if none is."""
        async with self.database.engine.connect() as connection:
            found = (
                await connection.execute(
                    select(WATCH.c.id).where(
                        _workspace_is(workspace_id),
                        WATCH.c.url == request.url,
                        WATCH.c.engine == request.engine,
                        WATCH.c.selector.is_(None)
                        if request.selector is None
                        else WATCH.c.selector == request.selector,
                    )
                )
            ).scalar()
        if found is not None:
            return str(found)
        made = await self.create(
            request.model_copy(update={"schedule": None, "check_now": False}), workspace_id=workspace_id
        )
        return str(made["id"])

    async def check(self, watch_id: str) -> ChangeCheck:
        """Check the page once, store its version, and fire ``on_change`` if it changed.

        Raises:
            NotFound: No such watch.
            SynthralError: The page could not be fetched (also kept in ``last_error``).
        """
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(WATCH).where(WATCH.c.id == watch_id))).mappings().first()
        if row is None:
            raise NotFound(f"no change detection {watch_id!r}", details={"watch_id": watch_id})
        stored_filters = dict(row["filters"] or {})
        stored_politeness = stored_filters.pop("politeness", None)
        politeness = Politeness.model_validate(stored_politeness) if stored_politeness else None
        filters = NoiseFilters.model_validate(stored_filters)
        payload: dict[str, JsonValue] = {"include": ["text"], "remove": list(filters.ignore_selectors)}
        if row["selector"]:
            payload["fields"] = {"region": {"css": row["selector"], "all": True}}
        try:
            result = await self.scraping.scrape(
                ScrapeRequest(url=row["url"], engine=row["engine"], input=payload, politeness=politeness),
                workspace_id=row["workspace_id"],
            )
        except SynthralError as exc:
            failing = update(WATCH).where(WATCH.c.id == watch_id)
            failing = failing.values(status="failing", last_error=exc.message[:2000], last_checked_at=utcnow())
            await self.database.write(lambda c: c.execute(failing))
            raise
        output = result.output
        if row["selector"]:
            region = (output.get("fields") or {}).get("region") or []
            text = "\n".join(str(part) for part in region) if isinstance(region, list) else str(region)
        else:
            text = str(output.get("text") or "")
        snapshot = filter_noise(text, filters)
        checksum = content_checksum(snapshot)
        first = row["checksum"] is None
        changed = not first and checksum != row["checksum"]
        diff = text_diff(row["snapshot"] or "", snapshot) if changed else ""
        values: dict[str, Any] = {
            "checksum": checksum,
            "snapshot": snapshot,
            "checks": row["checks"] + 1,
            "last_checked_at": utcnow(),
            "status": "active",
            "last_error": None,
        }
        if changed:
            values |= {"last_diff": diff, "changes": row["changes"] + 1, "last_changed_at": utcnow()}
        await self.database.write(lambda c: c.execute(update(WATCH).where(WATCH.c.id == watch_id).values(**values)))
        started = None
        if changed and row["on_change"]:
            started = await self._fire(row, OnChange.model_validate(row["on_change"]), diff, checksum, snapshot)
        return ChangeCheck(
            watch_id=watch_id,
            url=row["url"],
            changed=changed,
            first=first,
            checksum=checksum,
            diff=diff,
            text=snapshot[:20_000],
            started=started,
        )

    async def _fire(self, row: Any, on_change: OnChange, diff: str, checksum: str, snapshot: str) -> str:
        data = {
            "watch_id": row["id"],
            "url": row["url"],
            "selector": row["selector"],
            "diff": diff,
            "text": snapshot[:20_000],
        }
        if on_change.signal is not None:
            return await self.workflows.start_by_signal(
                on_change.workflow,
                on_change.signal,
                data,
                f"watch:{row['id']}:{checksum}",
                workspace_id=row["workspace_id"],
            )
        return await self.workflows.start(on_change.workflow, data, trigger="change", workspace_id=row["workspace_id"])
