"""Scraping: one page on any engine plugin, and durable crawls whose frontier lives in the database.

A crawl is a :class:`ScrapeJob` with one :class:`ScrapePage` row per URL it found. The loop in
:meth:`ScrapingService.run_crawl` claims a batch of pending URLs (never more than the page
budget leaves), hands them to the engine's batch capability with the bytes the budget leaves,
and stores what came back — pages, new links, counters, checksums, proxy uses — in one
transaction per batch. Killed at any point, the next run puts the batch it had claimed back
in the frontier and goes on: pages already stored are never fetched again, and the budgets
hold across runs because they are counted in the same rows.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from synthral.engine.model import Node, RetryPolicy, Workflow
from synthral.engine.repository import WorkflowNotFound
from synthral.errors import InputInvalid, NotFound, SynthralError
from synthral.plugins.host import PluginHost
from synthral.services.blob_grants import BlobGrants, blob_refs
from synthral.services.web_records import WebRecords
from synthral.services.workflows import WorkflowService
from synthral.store.blob_tables import grant_blobs
from synthral.store.db import Database
from synthral.store.tables import new_id, utcnow
from synthral.store.web_tables import SCRAPE_JOB, SCRAPE_PAGE
from synthral_sdk.context import EventSink
from synthral_sdk.web import Politeness

__all__ = ["DEFAULT_BATCH_ENGINE", "DEFAULT_ENGINE", "CrawlRequest", "ScrapeRequest", "ScrapeResult", "ScrapingService"]

JOB = SCRAPE_JOB
PAGE = SCRAPE_PAGE
DEFAULT_ENGINE: Final = "scrape-html/scrape"
DEFAULT_BATCH_ENGINE: Final = "scrape-html/fetch_pages"
CRAWL_WORKFLOW: Final = "scraping.crawl"
TERMINAL: Final = frozenset({"completed", "budget_exhausted", "failed", "cancelled"})
_LINKS_PER_PAGE: Final = 2000


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    politeness: Politeness | None = Field(
        default=None, description="respect_robots, requests_per_second, concurrency_per_domain, retries…"
    )
    proxy_credential: str | None = Field(
        default=None, description="A workspace credential listing proxies, one per line."
    )
    llm_credential: str | None = Field(default=None, description="A workspace credential with an LLM API key.")


class ScrapeRequest(_Common):
    """One page on an engine."""

    url: str = Field(max_length=8192)
    engine: str = Field(default=DEFAULT_ENGINE, description="A scraping capability, 'plugin/capability'.")
    input: dict[str, JsonValue] = Field(
        default_factory=dict, description="The engine's own input besides 'url' (fields, include, wait_for…)."
    )
    config: dict[str, JsonValue] = Field(default_factory=dict, description="The engine's config besides politeness.")


class CrawlRequest(_Common):
    """Many pages from seeds, following links within rules and budgets."""

    seeds: list[str] = Field(min_length=1, max_length=1000)
    engine: str = Field(default=DEFAULT_BATCH_ENGINE, description="A batch capability taking 'urls' and 'byte_budget'.")
    max_pages: int = Field(default=100, ge=1, le=1_000_000)
    max_bytes: int = Field(default=100_000_000, ge=1024, le=100_000_000_000)
    max_depth: int = Field(default=3, ge=0, le=100)
    same_domain: bool = Field(default=True, description="Follow links only to the seeds' hosts.")
    include_patterns: list[str] = Field(
        default_factory=list, description="Follow only URLs matching one of these regexes."
    )
    exclude_patterns: list[str] = Field(default_factory=list, description="Never follow URLs matching these regexes.")
    include: list[str] = Field(
        default_factory=lambda: ["text"], description="What to keep of each page: text, markdown."
    )
    fields: dict[str, JsonValue] = Field(default_factory=dict, description="Fields by CSS or XPath, kept per page.")
    batch_size: int = Field(default=32, ge=1, le=500)

    @field_validator("include_patterns", "exclude_patterns")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc}); fix or remove it") from None
        return value


@dataclass(frozen=True)
class ScrapeResult:
    """A finished scrape: its job and the engine's output."""

    job_id: str
    output: dict[str, Any]
    duplicate: bool


@dataclass(frozen=True)
class _Batch:
    """One claimed batch and what the engine answered, on its way into the database."""

    job_id: str
    workspace_id: str | None
    request: CrawlRequest
    claimed: list[tuple[str, str, int]]
    output: dict[str, Any]
    wanted: Callable[[str], bool]
    contents: dict[str, dict[str, Any]]


def _execute(statement: Any, connection: Connection) -> None:
    connection.execute(statement)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _check_url(url: str, field: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputInvalid(
            f"{field} {url[:200]!r} is not an absolute http(s) URL; write it as https://host/path",
            details={"field": field},
        )
    return url


class ScrapingService:
    """Scrapes pages and runs crawls on engine plugins, keeping jobs, pages and what they teach.

    Args:
        database: Where jobs and pages are kept.
        plugins: The plugin host the engines are installed in.
        records: Domain profiles, proxy log, checksums, credential grants.
    """

    def __init__(self, database: Database, plugins: PluginHost, records: WebRecords) -> None:
        self.database = database
        self.plugins = plugins
        self.records = records
        self.grants = BlobGrants(database)

    # -- one page ------------------------------------------------------------------------

    async def scrape(
        self,
        request: ScrapeRequest,
        *,
        workspace_id: str | None,
        user_id: str | None = None,
        execution_id: str | None = None,
    ) -> ScrapeResult:
        """Scrape one page and record it: the job, proxy uses, fingerprints and healed selectors, the checksum.

        Raises:
            InputInvalid: The URL or the engine's input is wrong (named).
            SynthralError: The engine failed (its error, as raised).
            BlobNotFound: Outside a run, the input or config names a blob the workspace was not given.
        """
        _check_url(request.url, "url")
        if execution_id is None:  # a run's references were checked where they entered
            await self.grants.check(workspace_id, {"input": request.input, "config": request.config})
        handle = self.plugins.resolve(request.engine)
        schema = handle.spec().operations.get("run")
        properties = schema.input_schema.get("properties") if schema else None
        accepts = set(properties) if isinstance(properties, dict) else set()
        payload: dict[str, Any] = {**request.input, "url": request.url}
        if "domain_profiles" in accepts:
            payload["domain_profiles"] = await self.records.profiles_for(workspace_id, [request.url])
        if "selector_memory" in accepts and "selector_memory" not in payload:
            payload["selector_memory"] = await self.records.selector_memory(workspace_id, request.url)
        secrets = await self.records.grants(
            workspace_id, proxy_credential=request.proxy_credential, llm_credential=request.llm_credential
        )
        job_id = new_id()
        await self.database.write(
            lambda c: c.execute(
                JOB.insert(),
                {
                    "id": job_id,
                    "workspace_id": workspace_id,
                    "kind": "scrape",
                    "engine": request.engine,
                    "url": request.url,
                    "request": request.model_dump(mode="json"),
                    "status": "running",
                    "execution_id": execution_id,
                    "created_by": user_id,
                    "created_at": utcnow(),
                    "started_at": utcnow(),
                },
            )
        )
        config = dict(request.config)
        if request.politeness is not None:
            config["politeness"] = request.politeness.model_dump(exclude_unset=True)
        context = self.plugins.context(secrets=secrets, execution_id=execution_id)
        try:
            output = await self.plugins.invoke(request.engine, payload, config=config, context=context)
        except SynthralError as exc:
            await self._finish(job_id, "failed", error=exc.message)
            raise
        checksum = output.get("checksum")
        events = output.get("proxy_log") or []

        made = blob_refs(output)

        def record(connection: Connection) -> bool:
            if made and workspace_id is not None:  # the page's files are handed back by reference
                grant_blobs(connection, workspace_id, made)
            self.records.log_proxies_in(connection, workspace_id, job_id, events)  # type: ignore[arg-type]
            if isinstance(checksum, str) and checksum:
                return self.records.seen_in(connection, workspace_id, checksum, request.url, job_id)
            return False

        duplicate = await self.database.write(record)
        fingerprints = output.get("fingerprints") or {}
        healed = output.get("healed") or []
        if fingerprints or healed:
            await self.records.remember_selectors(workspace_id, request.url, fingerprints, healed)  # type: ignore[arg-type]
        summary = {k: v for k, v in output.items() if k not in ("html",)}
        await self._finish(job_id, "completed", result=summary, pages=1, size=_int(output.get("bytes")))
        return ScrapeResult(job_id, output, duplicate)

    async def _finish(
        self,
        job_id: str,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        pages: int = 0,
        size: int = 0,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        if result is not None:
            encoded = orjson.dumps(result)
            values["result"] = (
                result
                if len(encoded) < 256_000
                else {"blob": self.plugins.blobs.put(encoded, media_type="application/json").to_json()}
            )
            values["pages_stored"] = pages
            values["bytes_stored"] = size
        await self.database.write(lambda c: c.execute(update(JOB).where(JOB.c.id == job_id).values(**values)))

    # -- crawls --------------------------------------------------------------------------

    async def create_crawl(
        self,
        request: CrawlRequest,
        *,
        workspace_id: str | None,
        user_id: str | None = None,
        key: str | None = None,
        execution_id: str | None = None,
    ) -> str:
        """Record a crawl and its seeds; return the job id. The same ``key`` returns the same job.

        Raises:
            InputInvalid: A seed is not an http(s) URL, or the engine is not a batch engine.
        """
        for index, seed in enumerate(request.seeds):
            _check_url(seed, f"seeds[{index}]")
        handle = self.plugins.resolve(request.engine)
        operation = handle.spec().operations.get("run")
        properties = (operation.input_schema.get("properties") if operation else None) or {}
        if "urls" not in properties:  # type: ignore[operator]
            raise InputInvalid(
                f"{request.engine} is not a batch engine (its input has no 'urls'); crawl with "
                f"{DEFAULT_BATCH_ENGINE} or another capability that fetches a batch of URLs",
                details={"field": "engine"},
            )
        job_id = new_id()
        now = utcnow()

        def write(connection: Connection) -> str:
            if key is not None:
                found = connection.execute(select(JOB.c.id).where(JOB.c.key == key)).scalar()
                if found is not None:
                    return str(found)
            connection.execute(
                JOB.insert(),
                {
                    "id": job_id,
                    "workspace_id": workspace_id,
                    "key": key,
                    "kind": "crawl",
                    "engine": request.engine,
                    "url": request.seeds[0],
                    "request": request.model_dump(mode="json"),
                    "status": "queued",
                    "max_pages": request.max_pages,
                    "max_bytes": request.max_bytes,
                    "execution_id": execution_id,
                    "created_by": user_id,
                    "created_at": now,
                },
            )
            seeds = list(dict.fromkeys(request.seeds))
            connection.execute(
                PAGE.insert(),
                [
                    {
                        "id": new_id(),
                        "job_id": job_id,
                        "url": url,
                        "url_hash": _url_hash(url),
                        "depth": 0,
                        "status": "pending",
                        "bytes": 0,
                    }
                    for url in seeds
                ],
            )
            return job_id

        return await self.database.write(write)

    async def start_crawl(
        self, request: CrawlRequest, *, workspace_id: str | None, user_id: str | None, workflows: WorkflowService
    ) -> tuple[str, str]:
        """Record a crawl and start the durable run that crawls it; return the job and the run.

        The run is of the workspace's ``scraping.crawl`` workflow (made on first use): one
        ``scraping/crawl`` step, retried after a crash, each retry resuming the same job.
        """
        job_id = await self.create_crawl(request, workspace_id=workspace_id, user_id=user_id)
        try:
            await workflows.get(CRAWL_WORKFLOW, workspace_id=workspace_id)
        except WorkflowNotFound:
            workflow = Workflow(
                name=CRAWL_WORKFLOW,
                description="Runs crawls started through POST /api/v1/scraping/crawl, one job per run.",
                nodes=[
                    Node(
                        id="crawl",
                        type="scraping/crawl",
                        input={"job_id": "{{ trigger.job_id }}"},
                        retry=RetryPolicy(max_attempts=10, initial_interval=1.0, max_interval=60.0),
                    )
                ],
            )
            await workflows.save(workflow, workspace_id=workspace_id, owner_id=user_id)
        execution_id = await workflows.start(
            CRAWL_WORKFLOW, {"job_id": job_id}, trigger="api", workspace_id=workspace_id
        )
        await self.database.write(
            lambda c: c.execute(update(JOB).where(JOB.c.id == job_id).values(execution_id=execution_id))
        )
        return job_id, execution_id

    async def job(self, workspace_id: str | None, job_id: str) -> dict[str, Any]:
        """A job's record and, for a crawl, its pages counted by status.

        Raises:
            NotFound: No such job in the workspace.
        """
        where = JOB.c.workspace_id.is_(None) if workspace_id is None else JOB.c.workspace_id == workspace_id
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(JOB).where(JOB.c.id == job_id, where))).mappings().first()
            if row is None:
                raise NotFound(f"no scrape job {job_id!r} in this workspace", details={"job_id": job_id})
            counts: dict[Any, Any] = dict(
                (
                    await connection.execute(
                        select(PAGE.c.status, func.count()).where(PAGE.c.job_id == job_id).group_by(PAGE.c.status)
                    )
                ).all()
            )
            duplicates = (
                await connection.execute(
                    select(func.count()).where(PAGE.c.job_id == job_id, PAGE.c.duplicate.is_(True))
                )
            ).scalar()
        job = {k: v for k, v in dict(row).items() if k not in ("key",)}
        job["pages"] = {str(k): int(v) for k, v in counts.items()}
        job["duplicates"] = int(duplicates or 0)
        return job

    async def pages(
        self, job_id: str, *, status: str = "stored", limit: int = 100, after: str | None = None
    ) -> list[dict[str, Any]]:
        """A crawl's pages of one status, in the order they were queued."""
        query = select(PAGE).where(PAGE.c.job_id == job_id, PAGE.c.status == status).order_by(PAGE.c.id).limit(limit)
        if after is not None:
            query = query.where(PAGE.c.id > after)
        async with self.database.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings().all()]

    async def cancel(self, workspace_id: str | None, job_id: str) -> None:
        """Stop a crawl at its next batch."""
        await self.job(workspace_id, job_id)
        await self.database.write(
            lambda c: c.execute(
                update(JOB)
                .where(JOB.c.id == job_id, JOB.c.status.notin_(TERMINAL))
                .values(status="cancelled", finished_at=utcnow())
            )
        )

    async def run_crawl(self, job_id: str, *, events: EventSink | None = None) -> dict[str, Any]:
        """Run (or resume) a crawl until its frontier is empty or a budget is spent; return its record.

        Raises:
            NotFound: No such job.
            SynthralError: The engine failed in a way a retry of the batch cannot fix.
        """
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(JOB).where(JOB.c.id == job_id))).mappings().first()
        if row is None:
            raise NotFound(f"no crawl job {job_id!r}", details={"job_id": job_id})
        if row["status"] in TERMINAL:
            return await self.job(row["workspace_id"], job_id)
        request = CrawlRequest.model_validate(row["request"])
        workspace_id = row["workspace_id"]
        secrets = await self.records.grants(
            workspace_id, proxy_credential=request.proxy_credential, llm_credential=request.llm_credential
        )
        hosts = {urlsplit(seed).hostname for seed in request.seeds}
        include = [re.compile(p) for p in request.include_patterns]
        exclude = [re.compile(p) for p in request.exclude_patterns]

        def wanted(url: str) -> bool:
            if request.same_domain and urlsplit(url).hostname not in hosts:
                return False
            if include and not any(p.search(url) for p in include):
                return False
            return not any(p.search(url) for p in exclude)

        def start(connection: Connection) -> None:
            # A run that died left its claimed batch in 'fetching': nothing of it was stored.
            connection.execute(
                update(PAGE).where(PAGE.c.job_id == job_id, PAGE.c.status == "fetching").values(status="pending")
            )
            connection.execute(
                update(JOB)
                .where(JOB.c.id == job_id)
                .values(status="running", started_at=func.coalesce(JOB.c.started_at, utcnow()))
            )

        await self.database.write(start)
        while True:
            claimed, room_bytes, stop = await self.database.write(lambda c: self._claim(c, job_id, request))
            if stop is not None:
                final = update(JOB).where(JOB.c.id == job_id, JOB.c.status == "running")
                await self.database.write(functools.partial(_execute, final.values(status=stop, finished_at=utcnow())))
                break
            profiles = await self.records.profiles_for(workspace_id, [url for _, url, _ in claimed])
            payload = {
                "urls": [url for _, url, _ in claimed],
                "byte_budget": room_bytes,
                "include": list(request.include),
                "fields": request.fields,
                "domain_profiles": profiles,
            }
            context = self.plugins.context(secrets=secrets, execution_id=row["execution_id"])
            output = await self.plugins.invoke(
                request.engine,
                payload,
                config={"politeness": request.politeness.model_dump(exclude_unset=True)} if request.politeness else {},
                context=context,
            )
            contents = await asyncio.to_thread(self._put_contents, output)
            batch = _Batch(job_id, workspace_id, request, claimed, output, wanted, contents)
            stored = await self.database.write(functools.partial(self._store, batch=batch))
            if events is not None:
                for page in stored:
                    events("crawl.page", page)
        return await self.job(workspace_id, job_id)

    def _put_contents(self, output: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Each page's kept content as a blob, by URL (written before the transaction that refers to them)."""
        refs: dict[str, dict[str, Any]] = {}
        for page in output.get("pages") or []:
            kept = {key: page.get(key) for key in ("text", "markdown", "fields") if page.get(key)}
            if kept and not page.get("error"):
                blob = self.plugins.blobs.put(orjson.dumps(kept), media_type="application/json", name="page.json")
                refs[page["url"]] = blob.to_json()
        return refs

    def _claim(
        self, connection: Connection, job_id: str, request: CrawlRequest
    ) -> tuple[list[tuple[str, str, int]], int, str | None]:
        job = connection.execute(
            select(JOB.c.status, JOB.c.pages_stored, JOB.c.pages_failed, JOB.c.bytes_stored).where(JOB.c.id == job_id)
        ).one()
        if job.status != "running":
            return [], 0, job.status if job.status in TERMINAL else "cancelled"
        room_pages = request.max_pages - job.pages_stored - job.pages_failed
        room_bytes = request.max_bytes - job.bytes_stored
        pending = connection.execute(
            select(PAGE.c.id, PAGE.c.url, PAGE.c.depth)
            .where(PAGE.c.job_id == job_id, PAGE.c.status == "pending")
            .order_by(PAGE.c.depth, PAGE.c.id)
            .limit(max(0, min(request.batch_size, room_pages)))
        ).all()
        if not pending:
            left = connection.execute(
                select(func.count()).where(and_(PAGE.c.job_id == job_id, PAGE.c.status == "pending"))
            ).scalar()
            return [], 0, "budget_exhausted" if left else "completed"
        if room_bytes <= 0:
            return [], 0, "budget_exhausted"
        connection.execute(update(PAGE).where(PAGE.c.id.in_([p.id for p in pending])).values(status="fetching"))
        return [(p.id, p.url, p.depth) for p in pending], room_bytes, None

    def _store(self, connection: Connection, *, batch: _Batch) -> list[dict[str, Any]]:
        job_id, workspace_id, request, claimed = batch.job_id, batch.workspace_id, batch.request, batch.claimed
        output, wanted, contents = batch.output, batch.wanted, batch.contents
        if contents and workspace_id is not None:  # each page's content, handed back by reference
            grant_blobs(connection, workspace_id, blob_refs(list(contents.values())))
        results = {page["url"]: page for page in output.get("pages") or []}
        stored_n = failed_n = size = 0
        stored: list[dict[str, Any]] = []
        new_links: dict[str, int] = {}
        now = utcnow()
        for page_id, url, depth in claimed:
            page = results.get(url)
            if page is None or page.get("error_type") == "BudgetExhausted":
                connection.execute(update(PAGE).where(PAGE.c.id == page_id).values(status="pending"))
                continue
            if page.get("error_type") == "RobotsDisallowed":
                skipped = update(PAGE).where(PAGE.c.id == page_id)
                connection.execute(
                    skipped.values(status="skipped", error=str(page.get("error"))[:2000], fetched_at=now)
                )
                continue
            size += int(page.get("bytes") or 0)
            if page.get("error") or int(page.get("status") or 0) >= 400:
                failed_n += 1
                connection.execute(
                    update(PAGE)
                    .where(PAGE.c.id == page_id)
                    .values(
                        status="failed",
                        http_status=page.get("status") or None,
                        error=(page.get("error") or f"HTTP {page.get('status')}")[:2000],
                        bytes=int(page.get("bytes") or 0),
                        fetched_at=now,
                    )
                )
                continue
            stored_n += 1
            checksum = page.get("checksum") or ""
            duplicate = bool(checksum) and self.records.seen_in(connection, workspace_id, checksum, url, job_id)
            content = contents.get(url)
            connection.execute(
                update(PAGE)
                .where(PAGE.c.id == page_id)
                .values(
                    status="stored",
                    http_status=page.get("status"),
                    final_url=page.get("final_url"),
                    title=(page.get("title") or "")[:1000],
                    checksum=checksum,
                    duplicate=duplicate,
                    bytes=int(page.get("bytes") or 0),
                    content=content,
                    fetched_at=now,
                )
            )
            stored.append(
                {"url": url, "status": page.get("status"), "title": page.get("title"), "duplicate": duplicate}
            )
            if depth < request.max_depth:
                for link in (page.get("links") or [])[:_LINKS_PER_PAGE]:
                    if link not in new_links and wanted(link):
                        new_links[link] = depth + 1
        if new_links:
            rows = [
                {
                    "id": new_id(),
                    "job_id": job_id,
                    "url": url,
                    "url_hash": _url_hash(url),
                    "depth": d,
                    "status": "pending",
                    "bytes": 0,
                }
                for url, d in new_links.items()
            ]
            new_pages = self.database.merge(PAGE, ("job_id", "url_hash"), replace=False)
            for start in range(0, len(rows), 500):
                connection.execute(new_pages, rows[start : start + 500])
        connection.execute(
            update(JOB)
            .where(JOB.c.id == job_id)
            .values(
                pages_stored=JOB.c.pages_stored + stored_n,
                pages_failed=JOB.c.pages_failed + failed_n,
                bytes_stored=JOB.c.bytes_stored + size,
            )
        )
        self.records.log_proxies_in(connection, workspace_id, job_id, output.get("proxy_log") or [])
        return stored
