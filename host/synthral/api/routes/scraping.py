"""Scraping: one page, durable crawls and their status, page watches, domain profiles, the proxy log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, Field, JsonValue

from synthral.api.access import Editor, Owner, Viewer
from synthral.api.state import ServerState, server_of
from synthral.services.scraping import CrawlRequest, ScrapeRequest
from synthral.services.watch import WatchRequest
from synthral.services.web import WebServices
from synthral.services.web_records import DomainProfileWrite

__all__ = ["router"]

router = APIRouter(prefix="/scraping", tags=["scraping"])
Server = Annotated[ServerState, Depends(server_of)]


class ScrapeAnswer(BaseModel):
    """The page, as the engine returned it."""

    job_id: str
    duplicate: bool = Field(description="Its content (by checksum) was seen before in this workspace.")
    output: dict[str, JsonValue]


class CrawlAnswer(BaseModel):
    """The crawl's job; poll GET /scraping/status/{job_id}."""

    job_id: str
    status: str
    execution_id: str | None = Field(default=None, description="The durable run that crawls.")


def web(server: ServerState) -> WebServices:
    """The server's web services."""
    return server.app.web_services()


@router.post("/scrape", response_model=ScrapeAnswer)
async def scrape(body: ScrapeRequest, access: Editor, server: Server) -> ScrapeAnswer:
    """Scrape one page now and answer with what the engine returned."""
    result = await web(server).scraping.scrape(body, workspace_id=access.workspace_id, user_id=access.principal.user_id)
    return ScrapeAnswer(job_id=result.job_id, duplicate=result.duplicate, output=result.output)


@router.post("/crawl", status_code=status.HTTP_202_ACCEPTED, response_model=CrawlAnswer)
async def crawl(body: CrawlRequest, access: Editor, server: Server) -> CrawlAnswer:
    """Start a crawl as a durable run: it survives restarts and never passes its page or byte budget."""
    job_id, execution_id = await web(server).scraping.start_crawl(
        body, workspace_id=access.workspace_id, user_id=access.principal.user_id, workflows=server.app.workflows
    )
    return CrawlAnswer(job_id=job_id, status="queued", execution_id=execution_id)


@router.get("/status/{job_id}")
async def job_status(job_id: Annotated[str, Path(max_length=64)], access: Viewer, server: Server) -> dict[str, Any]:
    """A job: status, counters, budgets, pages by status; a scrape's output."""
    return await web(server).scraping.job(access.workspace_id, job_id)


@router.get("/status/{job_id}/pages")
async def job_pages(
    job_id: Annotated[str, Path(max_length=64)],
    access: Viewer,
    server: Server,
    page_status: Annotated[str, Query(alias="status", pattern="^(pending|stored|failed)$")] = "stored",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """A crawl's pages of one status (content as blob references), in the order they were found."""
    service = web(server).scraping
    await service.job(access.workspace_id, job_id)
    items = await service.pages(job_id, status=page_status, limit=limit, after=after)
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


@router.post("/status/{job_id}/cancel", status_code=status.HTTP_204_NO_CONTENT)
async def cancel(job_id: Annotated[str, Path(max_length=64)], access: Editor, server: Server) -> None:
    """Stop a crawl at its next batch."""
    await web(server).scraping.cancel(access.workspace_id, job_id)


@router.post("/change-detection", status_code=status.HTTP_201_CREATED)
async def change_detection(body: WatchRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Watch a page (or a part of it) on a schedule; on a change, start or signal a workflow with the diff."""
    return await web(server).watch.create(body, workspace_id=access.workspace_id, user_id=access.principal.user_id)


@router.get("/change-detection/{watch_id}")
async def get_watch(watch_id: Annotated[str, Path(max_length=64)], access: Viewer, server: Server) -> dict[str, Any]:
    """A watch: its last version's checksum, the last diff, counts."""
    return await web(server).watch.get(access.workspace_id, watch_id)


@router.post("/change-detection/{watch_id}/check")
async def check_now(watch_id: Annotated[str, Path(max_length=64)], access: Editor, server: Server) -> dict[str, Any]:
    """Check a watched page now."""
    service = web(server).watch
    await service.get(access.workspace_id, watch_id)
    return (await service.check(watch_id)).model_dump()


@router.put("/domains/{domain}")
async def put_domain(
    domain: Annotated[str, Path(max_length=253)], body: DomainProfileWrite, access: Owner, server: Server
) -> dict[str, Any]:
    """Set how scrapers behave on a domain (pace, concurrency, headers, browser habits); owners."""
    return await web(server).records.put_profile(access.workspace_id, domain, body)


@router.get("/domains/{domain}")
async def get_domain(domain: Annotated[str, Path(max_length=253)], access: Viewer, server: Server) -> dict[str, Any]:
    """A domain's profile, with the selectors healed on it."""
    found = [
        p
        for p in await web(server).records.profiles_for(access.workspace_id, [f"http://{domain}/"])
        if p["domain"] == domain
    ]
    if not found:
        from synthral.errors import NotFound  # noqa: PLC0415

        raise NotFound(f"no profile for {domain!r}; set one with PUT /api/v1/scraping/domains/{domain}")
    return found[0]


@router.get("/proxy-log")
async def proxy_log(
    access: Viewer, server: Server, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The workspace's latest proxy uses, newest first."""
    return {"items": await web(server).records.proxy_log(access.workspace_id, limit), "next_cursor": None}
