"""The nodes: ``render`` (one JavaScript page) and ``render_pages`` (a crawl's batch of them)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import BlobRef, Context, Node
from synthral_sdk.errors import InputInvalid, SynthralError
from synthral_sdk.web import (
    BrowserLimits,
    DomainGate,
    DomainRules,
    Fetcher,
    ManagedBrowser,
    Politeness,
    ProxyEvent,
    ProxyPool,
    content_checksum,
    domain_of,
    network_of,
)

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

__all__ = ["BROWSER", "Render", "RenderPages"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
BROWSER: Final = ManagedBrowser()
_LINKS_JS: Final = "() => Array.from(document.querySelectorAll('a[href]'), a => a.href)"


class RenderConfig(BaseModel):
    """Politeness and the browser's limits."""

    model_config = ConfigDict(extra="forbid")

    politeness: Politeness = Field(default_factory=Politeness)
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Per page.")
    memory_mb: int = Field(default=1536, ge=128, le=32768)
    tabs: int = Field(default=4, ge=1, le=32, description="Pages rendered at once in a batch.")


class FieldSpec(BaseModel):
    """A field by CSS selector."""

    model_config = ConfigDict(extra="forbid")

    css: str
    attr: str | None = None
    all: bool = False


class RenderInput(BaseModel):
    """A page to render and what to take from it."""

    model_config = ConfigDict(extra="forbid")

    url: str
    wait_for: str | None = Field(default=None, description="A selector to wait for before extracting.")
    wait_until: Literal["load", "domcontentloaded", "networkidle"] = "load"
    scroll: bool = Field(default=False, description="Scroll to the bottom first (lazy content).")
    include: list[Literal["text", "html", "links"]] = Field(default_factory=lambda: ["text", "links"])
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list, description="CSS selectors removed before extracting.")
    screenshot: bool = False
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class RenderOutput(BaseModel):
    """What the rendered page holds."""

    url: str
    final_url: str
    status: int
    title: str = ""
    text: str | None = None
    html: str | None = None
    links: list[str] | None = None
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    checksum: str = ""
    bytes: int = 0
    screenshot: BlobRef | None = None
    refused: list[str] = Field(default_factory=list)
    proxy_log: list[ProxyEvent] = Field(default_factory=list)


def _pool(context: Context) -> ProxyPool | None:
    text = context.secrets.get(PROXY_SECRET)
    return ProxyPool.shared(text) if text else None


async def _render(
    browser_context: BrowserContext, inputs: RenderInput, config: RenderConfig, fetcher: Fetcher, context: Context
) -> RenderOutput:
    url = inputs.url
    if urlsplit(url).scheme not in ("http", "https"):
        raise InputInvalid(f"{url[:200]!r} is not an absolute http(s) URL; write it as https://host/path")
    politeness = config.politeness
    rules = fetcher.rules(domain_of(url))
    rps, concurrency = (
        rules.pace(politeness) if rules else (politeness.requests_per_second, politeness.concurrency_per_domain)
    )
    agent = fetcher.user_agents.pick(domain_of(url), politeness, rules)
    if politeness.respect_robots:
        delay = await fetcher.robots.check(url, agent, fetcher._robots_text)  # noqa: SLF001 -- the fetcher's own client
        if delay:
            rps = min(rps, 1 / delay)
    page = await BROWSER.guarded(browser_context.new_page(), "opening a page")
    try:
        async with DomainGate.shared().slot(domain_of(url), rps, concurrency):
            response = await BROWSER.guarded(
                page.goto(url, wait_until=inputs.wait_until, timeout=config.timeout_s * 1000),
                f"loading {url}",
                config.timeout_s + 5,
            )
        if (rules is not None and rules.scroll_needed) or inputs.scroll:
            await BROWSER.guarded(page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)"), "scrolling")
        if inputs.wait_for:
            await BROWSER.guarded(
                page.wait_for_selector(inputs.wait_for, timeout=config.timeout_s * 1000),
                "waiting",
                config.timeout_s + 5,
            )
        for selector in inputs.remove:
            await page.evaluate("(s) => document.querySelectorAll(s).forEach(e => e.remove())", selector)
        html = await page.content()
        text = await page.locator("body").inner_text()
        output = RenderOutput(
            url=url,
            final_url=page.url,
            status=response.status if response is not None else 0,
            title=await page.title(),
            checksum=content_checksum(text),
            bytes=len(html.encode()),
        )
        if "text" in inputs.include:
            output.text = text
        if "html" in inputs.include:
            output.html = html
        if "links" in inputs.include:
            hrefs = await page.evaluate(_LINKS_JS)
            output.links = list(
                dict.fromkeys(urldefrag(urljoin(page.url, h))[0] for h in hrefs if h.startswith("http"))
            )
        for name, spec in inputs.fields.items():
            locator = page.locator(spec.css)
            if spec.attr:
                values = [
                    v
                    for v in [await locator.nth(i).get_attribute(spec.attr) for i in range(await locator.count())]
                    if v is not None
                ]
            else:
                values = [t.strip() for t in await locator.all_inner_texts()]
            output.fields[name] = values if spec.all else (values[0] if values else None)
        if inputs.screenshot:
            png = await BROWSER.guarded(page.screenshot(full_page=True), "taking a screenshot")
            output.screenshot = context.blobs.put(png, media_type="image/png", name="page.png")
        return output
    finally:
        await page.close()


def _browser_options(context: Context, config: RenderConfig, pool: ProxyPool | None) -> dict[str, Any]:
    BROWSER.limits = BrowserLimits(memory_mb=config.memory_mb, operation_s=config.timeout_s + 10)
    upstream = (pool.choose) if pool else None
    return {"network": network_of(context), "upstream": upstream}


class Render(Node[RenderInput, RenderOutput, RenderConfig]):
    """Render a JavaScript page in Chromium, wait for it, and extract text, HTML, links and fields."""

    name = "render"
    title = "Render a page"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: RenderInput, config: RenderConfig, context: Context) -> RenderOutput:
        """Render the page."""
        pool = _pool(context)
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        async with (
            Fetcher(
                config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
            ) as fetcher,
            BROWSER.context(**_browser_options(context, config, pool)) as (browser_context, egress),
        ):
            output = await _render(browser_context, inputs, config, fetcher, context)
            output.refused = [f"{r.host}:{r.port}: {r.reason}" for r in egress.refusals]
        output.proxy_log = pool.drain() if pool else []
        return output


class PagesInput(BaseModel):
    """A crawl's batch of JavaScript pages."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=200)
    byte_budget: int | None = Field(default=None, ge=0)
    include: list[Literal["text", "html", "links"]] = Field(default_factory=lambda: ["links"])
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class PageResult(BaseModel):
    """One page of the batch, or why it failed."""

    url: str
    final_url: str = ""
    status: int = 0
    error: str | None = None
    error_type: str | None = None
    title: str = ""
    links: list[str] = Field(default_factory=list)
    text: str | None = None
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    checksum: str = ""
    bytes: int = 0


class PagesOutput(BaseModel):
    """The batch's pages in the order given."""

    pages: list[PageResult]
    proxy_log: list[ProxyEvent] = Field(default_factory=list)
    budget_exhausted: bool = False


class RenderPages(Node[PagesInput, PagesOutput, RenderConfig]):
    """Render a batch of pages in parallel tabs within a byte budget: the step a JavaScript crawl repeats."""

    name = "render_pages"
    title = "Render pages (crawl batch)"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: PagesInput, config: RenderConfig, context: Context) -> PagesOutput:
        """Render the batch."""
        pool = _pool(context)
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        remaining = inputs.byte_budget
        tabs = asyncio.Semaphore(config.tabs)
        async with (
            Fetcher(
                config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
            ) as fetcher,
            BROWSER.context(**_browser_options(context, config, pool)) as (browser_context, _),
        ):

            async def one(url: str) -> PageResult:
                nonlocal remaining
                async with tabs:
                    if remaining is not None and remaining <= 0:
                        return PageResult(url=url, error="byte budget spent", error_type="BudgetExhausted")
                    try:
                        out = await _render(
                            browser_context,
                            RenderInput(url=url, include=[*list(inputs.include), "links"], fields=inputs.fields),
                            config,
                            fetcher,
                            context,
                        )
                    except SynthralError as exc:
                        if exc.error_type == "BrowserKilled":
                            raise
                        return PageResult(url=url, error=exc.message, error_type=exc.error_type)
                    except Exception as exc:  # noqa: BLE001 -- a page's own failure (Playwright's Error) fails only it
                        return PageResult(url=url, error=str(exc).splitlines()[0][:500], error_type=type(exc).__name__)
                    if remaining is not None:
                        if out.bytes > remaining:
                            return PageResult(url=url, error="byte budget spent", error_type="BudgetExhausted")
                        remaining -= out.bytes
                    return PageResult(
                        url=url, final_url=out.final_url, status=out.status, title=out.title, links=out.links or [],
                        text=out.text, fields=out.fields, checksum=out.checksum, bytes=out.bytes,
                    )  # fmt: skip

            pages = await asyncio.gather(*(one(url) for url in inputs.urls))
        return PagesOutput(
            pages=list(pages),
            proxy_log=pool.drain() if pool else [],
            budget_exhausted=any(p.error_type == "BudgetExhausted" for p in pages),
        )
