"""The nodes: ``crawl`` (breadth-first with Crawl4AI) and ``fetch_pages`` (a batch for the host's durable crawl)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import Context, Node
from synthral_sdk.errors import InputInvalid, RobotsDisallowed
from synthral_sdk.web import (
    ChromiumProcess,
    DomainRules,
    EgressProxy,
    Fetcher,
    Politeness,
    ProxyEvent,
    ProxyPool,
    content_checksum,
    network_of,
)

__all__ = ["Crawl", "FetchPages"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
log = logging.getLogger("synthral.crawl4ai")


class CrawlConfig(BaseModel):
    """Politeness and how long a page may take."""

    model_config = ConfigDict(extra="forbid")

    politeness: Politeness = Field(default_factory=Politeness)
    page_timeout_s: float = Field(default=30.0, gt=0, le=600)
    tabs: int = Field(default=4, ge=1, le=32, description="Pages crawled at once.")


class CrawlInput(BaseModel):
    """Where to start and how far to go."""

    model_config = ConfigDict(extra="forbid")

    url: str
    max_depth: int = Field(default=1, ge=0, le=20)
    max_pages: int = Field(default=20, ge=1, le=10_000)
    include: list[str] = Field(default_factory=list, description="URL patterns (wildcards) to follow, e.g. '*/docs/*'.")
    exclude: list[str] = Field(default_factory=list, description="URL patterns never followed.")
    include_external: bool = False
    wait_for: str | None = Field(default=None, description="'css:<selector>' or 'js:<expression>' to wait for.")
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class CrawledPage(BaseModel):
    """One crawled page."""

    url: str
    depth: int = 0
    status: int = 0
    ok: bool = True
    error: str | None = None
    title: str = ""
    markdown: str = ""
    links: list[str] = Field(default_factory=list)
    checksum: str = ""


class CrawlOutput(BaseModel):
    """The crawled pages, in the order they finished."""

    pages: list[CrawledPage]
    refused: list[str] = Field(default_factory=list)
    proxy_log: list[ProxyEvent] = Field(default_factory=list)


def _setup(context: Context) -> None:
    base = context.data_dir or Path.home()
    os.environ.setdefault("CRAWL4_AI_BASE_DIRECTORY", str(base))


@asynccontextmanager
async def _crawler(context: Context, pool: ProxyPool | None) -> AsyncIterator[tuple[Any, EgressProxy]]:
    from crawl4ai import AsyncWebCrawler, BrowserConfig  # noqa: PLC0415 -- heavy; loaded on the first call

    _setup(context)
    async with EgressProxy(network_of(context), pool.choose if pool else None) as egress:
        chromium = ChromiumProcess(egress.chromium_args())
        await chromium.start()
        try:
            config = BrowserConfig(cdp_url=chromium.cdp_url, headless=True, verbose=False)
            async with AsyncWebCrawler(config=config) as crawler:
                yield crawler, egress
        finally:
            await chromium.stop()


def _run_config(config: CrawlConfig, **extra: Any) -> Any:
    from crawl4ai import CacheMode, CrawlerRunConfig  # noqa: PLC0415

    return CrawlerRunConfig(
        cache_mode=CacheMode.BYPASS,
        page_timeout=int(config.page_timeout_s * 1000),
        semaphore_count=config.tabs,
        verbose=False,
        **extra,
    )


def _page(result: Any) -> CrawledPage:
    markdown = result.markdown
    text = str(getattr(markdown, "raw_markdown", markdown) or "")
    links = [link.get("href", "") for link in (result.links or {}).get("internal", [])]
    links += [link.get("href", "") for link in (result.links or {}).get("external", [])]
    return CrawledPage(
        url=result.url,
        depth=int((result.metadata or {}).get("depth", 0) or 0),
        status=int(result.status_code or 0),
        ok=bool(result.success),
        error=None if result.success else str(result.error_message or "")[:1000],
        title=str((result.metadata or {}).get("title") or ""),
        markdown=text,
        links=[link for link in dict.fromkeys(links) if link.startswith("http")],
        checksum=content_checksum(text),
    )


async def _robots(fetcher: Fetcher, url: str) -> None:
    if fetcher.politeness.respect_robots:
        agent = fetcher.user_agents.pick("", fetcher.politeness)
        await fetcher.robots.check(url, agent, fetcher._robots_text)  # noqa: SLF001 -- the fetcher's own client


class Crawl(Node[CrawlInput, CrawlOutput, CrawlConfig]):
    """Crawl breadth-first with Crawl4AI on the system's Chromium; each page as markdown, streamed as it comes."""

    name = "crawl"
    title = "Crawl4AI crawl"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: CrawlInput, config: CrawlConfig, context: Context) -> CrawlOutput:
        """Crawl from the URL."""
        from crawl4ai.deep_crawling import BFSDeepCrawlStrategy  # noqa: PLC0415
        from crawl4ai.deep_crawling.filters import FilterChain, URLPatternFilter  # noqa: PLC0415

        if not inputs.url.startswith(("http://", "https://")):
            raise InputInvalid(f"{inputs.url[:200]!r} is not an absolute http(s) URL; write it as https://host/path")
        pool = ProxyPool.shared(context.secrets[PROXY_SECRET]) if context.secrets.get(PROXY_SECRET) else None
        filters = []
        if inputs.include:
            filters.append(URLPatternFilter(patterns=inputs.include))
        if inputs.exclude:
            filters.append(URLPatternFilter(patterns=inputs.exclude, reverse=True))
        strategy = BFSDeepCrawlStrategy(
            max_depth=inputs.max_depth,
            max_pages=inputs.max_pages,
            include_external=inputs.include_external,
            filter_chain=FilterChain(filters),
        )
        extra: dict[str, Any] = {"deep_crawl_strategy": strategy, "stream": True}
        extra["check_robots_txt"] = config.politeness.respect_robots
        if inputs.wait_for:
            extra["wait_for"] = inputs.wait_for
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        pages: list[CrawledPage] = []
        async with Fetcher(
            config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
        ) as fetcher:
            await _robots(fetcher, inputs.url)
            async with _crawler(context, pool) as (crawler, egress):
                async for result in await crawler.arun(inputs.url, config=_run_config(config, **extra)):
                    page = _page(result)
                    pages.append(page)
                    context.emit("scrape.page", page.model_dump(mode="json", exclude={"markdown"}))
                    context.report_progress(len(pages) / inputs.max_pages, f"{len(pages)} pages")
                refused = [f"{r.host}:{r.port}: {r.reason}" for r in egress.refusals]
        return CrawlOutput(pages=pages[: inputs.max_pages], refused=refused, proxy_log=pool.drain() if pool else [])


class PagesInput(BaseModel):
    """A batch of the host's durable crawl."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=200)
    byte_budget: int | None = Field(default=None, ge=0)
    include: list[str] = Field(default_factory=list)
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class PageResult(BaseModel):
    """One page of the batch, as the host's crawl stores it."""

    url: str
    final_url: str = ""
    status: int = 0
    error: str | None = None
    error_type: str | None = None
    title: str = ""
    links: list[str] = Field(default_factory=list)
    markdown: str | None = None
    checksum: str = ""
    bytes: int = 0


class PagesOutput(BaseModel):
    """The batch in the order given."""

    pages: list[PageResult]
    proxy_log: list[ProxyEvent] = Field(default_factory=list)
    budget_exhausted: bool = False


class FetchPages(Node[PagesInput, PagesOutput, CrawlConfig]):
    """Crawl a batch of URLs with Crawl4AI within a byte budget: the step a durable crawl repeats."""

    name = "fetch_pages"
    title = "Crawl4AI pages (crawl batch)"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: PagesInput, config: CrawlConfig, context: Context) -> PagesOutput:
        """Crawl the batch."""
        pool = ProxyPool.shared(context.secrets[PROXY_SECRET]) if context.secrets.get(PROXY_SECRET) else None
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        results: dict[str, PageResult] = {}
        allowed: list[str] = []
        async with Fetcher(
            config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
        ) as fetcher:
            for url in inputs.urls:
                try:
                    await _robots(fetcher, url)
                    allowed.append(url)
                except RobotsDisallowed as exc:
                    results[url] = PageResult(url=url, error=exc.message, error_type="RobotsDisallowed")
            if allowed:
                async with _crawler(context, pool) as (crawler, _):
                    for result in await crawler.arun_many(allowed, config=_run_config(config)):
                        page = _page(result)
                        size = len((result.html or "").encode())
                        results[result.url] = PageResult(
                            url=result.url, final_url=str(result.redirected_url or result.url), status=page.status,
                            error=page.error, error_type=None if page.ok else "CrawlFailed", title=page.title,
                            links=page.links, markdown=page.markdown if "markdown" in inputs.include else None,
                            checksum=page.checksum, bytes=size,
                        )  # fmt: skip
        budget = inputs.byte_budget
        pages: list[PageResult] = []
        for url in inputs.urls:
            page = results.get(url) or PageResult(url=url, error="no result", error_type="CrawlFailed")
            if budget is not None and page.error is None:
                if page.bytes > budget:
                    page = PageResult(url=url, error="byte budget spent", error_type="BudgetExhausted")
                else:
                    budget -= page.bytes
            pages.append(page)
        return PagesOutput(
            pages=pages,
            proxy_log=pool.drain() if pool else [],
            budget_exhausted=any(p.error_type == "BudgetExhausted" for p in pages),
        )
