"""The nodes: ``scrape`` (one page, everything in it) and ``fetch_pages`` (a batch of a crawl)."""

from __future__ import annotations

import asyncio
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from selectolax.lexbor import LexborNode

from synthral_scrape_html.extract import (
    FieldSpec,
    Link,
    Page,
    extract_links,
    main_content,
    metadata,
    select_field,
    tables,
    visible_text,
)
from synthral_sdk import Context, Node
from synthral_sdk.errors import NonRetryableError, SynthralError
from synthral_sdk.web import (
    DomainRules,
    Fetched,
    Fetcher,
    Fingerprint,
    LLMEndpoint,
    Politeness,
    ProxyEvent,
    ProxyPool,
    SelectorProposal,
    chat_json,
    content_checksum,
    network_of,
    propose_selector,
)

__all__ = ["FetchPages", "Scrape"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
LLM_SECRET: Final = "llm_api_key"  # noqa: S105 -- a secret slot name
_HTML_TYPES: Final = ("text/html", "application/xhtml+xml", "")
Include = str


class ScrapeConfig(BaseModel):
    """How to fetch and what to heal with."""

    model_config = ConfigDict(extra="forbid")

    politeness: Politeness = Field(default_factory=Politeness)
    llm: LLMEndpoint | None = Field(
        default=None, description="An OpenAI-compatible endpoint asked for a selector when structure finds none."
    )


class ScrapeInput(BaseModel):
    """A page (by URL, or its HTML) and what to take from it."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The page; also the base of relative links when 'html' is given.")
    html: str | None = Field(default=None, description="Parse this HTML instead of fetching the URL.")
    include: list[str] = Field(
        default_factory=lambda: ["text", "markdown", "links", "metadata", "tables"],
        description="Any of text, markdown, main_text, links, metadata, tables, html.",
    )
    fields: dict[str, FieldSpec] = Field(default_factory=dict, description="Named fields by CSS or XPath.")
    remove: list[str] = Field(
        default_factory=list, description="CSS selectors of parts to drop before anything is extracted (ads, clocks)."
    )
    selector_memory: dict[str, Fingerprint] = Field(
        default_factory=dict, description="Fingerprints of the fields' elements from earlier runs (for healing)."
    )
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class ScrapeOutput(BaseModel):
    """What the page holds."""

    url: str
    final_url: str
    status: int
    title: str = ""
    text: str | None = None
    main_text: str | None = None
    markdown: str | None = None
    html: str | None = None
    links: list[Link] | None = None
    metadata: dict[str, JsonValue] | None = None
    tables: list[dict[str, JsonValue]] | None = None
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    fingerprints: dict[str, Fingerprint] = Field(default_factory=dict)
    healed: list[SelectorProposal] = Field(default_factory=list)
    checksum: str = ""
    bytes: int = 0
    truncated: bool = False
    proxy_log: list[ProxyEvent] = Field(default_factory=list)


_INCLUDES: Final = frozenset({"text", "markdown", "main_text", "links", "metadata", "tables", "html"})


def _fingerprint(node: LexborNode) -> Fingerprint:
    attrs = {k: (v or "")[:200] for k, v in node.attributes.items()}
    path: list[str] = []
    parent = node.parent
    while parent is not None and parent.tag not in ("-undef", "html", None) and len(path) < 6:
        path.append(str(parent.tag))
        parent = parent.parent
    return Fingerprint(
        tag=str(node.tag),
        id=attrs.get("id", ""),
        classes=attrs.get("class", "").split(),
        attrs={
            k: v
            for k, v in attrs.items()
            if k in ("name", "itemprop", "role", "aria-label", "type", "rel", "title") or k.startswith("data-")
        },
        text=" ".join(node.text(strip=True).split())[:200],
        path=path,
    )


def _proxies(context: Context) -> ProxyPool | None:
    text = context.secrets.get(PROXY_SECRET)
    return ProxyPool.shared(text) if text else None


async def _heal_with_llm(  # noqa: PLR0917 -- one private helper, called once
    fetcher: Fetcher,
    endpoint: LLMEndpoint,
    api_key: str | None,
    page: Page,
    name: str,
    remembered: Fingerprint,
    old: str,
) -> SelectorProposal | None:
    html = (page.tree.body.html if page.tree.body is not None else page.html) or ""
    messages = [
        {
            "role": "system",
            "content": 'You repair CSS selectors for web scraping. Answer with a JSON object {"selector": "..."}.',
        },
        {
            "role": "user",
            "content": f"The selector {old!r} for the field {name!r} no longer matches. The element used to look like "
            f"this: {remembered.model_dump_json()}. Write one CSS selector that finds it in this HTML:\n{html[:12000]}",
        },
    ]
    client = fetcher._client(None)  # noqa: SLF001 -- the same policy-checked pool
    answer = await chat_json(client, endpoint, messages, api_key=api_key)
    selector = answer.get("selector")
    if not isinstance(selector, str) or not selector.strip():
        return None
    try:
        nodes = page.tree.css(selector)
    except Exception:  # noqa: BLE001 -- the model wrote a selector Lexbor cannot read
        return None
    if not nodes:
        return None
    return SelectorProposal(
        field=name, old_selector=old, selector=selector, score=0.5, source="llm", sample=nodes[0].text(strip=True)[:120]
    )


async def _fields(  # noqa: PLR0917 -- one private helper, called once
    page: Page, inputs: ScrapeInput, config: ScrapeConfig, fetcher: Fetcher, context: Context, output: ScrapeOutput
) -> None:
    for name, spec in inputs.fields.items():
        value, nodes = select_field(page, name, spec)
        if nodes:
            output.fingerprints[name] = _fingerprint(nodes[0])
        elif spec.css is not None and name in inputs.selector_memory:
            remembered = inputs.selector_memory[name]
            proposal = propose_selector(page.html, remembered, spec.css, name)
            if proposal is not None:
                try:
                    nodes = page.tree.css(proposal.selector)
                except Exception:  # noqa: BLE001 -- a selector Lexbor cannot read is no proposal
                    nodes = []
            if (proposal is None or not nodes) and config.llm is not None:
                proposal = await _heal_with_llm(
                    fetcher, config.llm, context.secrets.get(LLM_SECRET), page, name, remembered, spec.css
                )
            if proposal is not None:
                healed_spec = spec.model_copy(update={"css": proposal.selector})
                value, nodes = select_field(page, name, healed_spec)
                if nodes:
                    output.healed.append(proposal)
                    output.fingerprints[name] = _fingerprint(nodes[0])
                    context.log.warning(
                        "field %s: selector %r matched nothing; healed to %r (%s)",
                        name, spec.css, proposal.selector, proposal.source,
                    )  # fmt: skip
        output.fields[name] = value


def _without(page: Page, selectors: list[str]) -> str:
    for selector in selectors:
        try:
            nodes = page.tree.css(selector)
        except Exception:  # noqa: BLE001 -- Lexbor's selector errors share no narrower base
            raise NonRetryableError(
                f"remove: {selector!r} is not a CSS selector this parser reads; fix it", details={"field": "remove"}
            ) from None
        for node in nodes:
            node.decompose()
    return page.tree.html or ""


def _check_includes(include: list[str]) -> None:
    unknown = sorted(set(include) - _INCLUDES)
    if unknown:
        raise NonRetryableError(
            f"include has {', '.join(map(repr, unknown))}, which this node does not produce; "
            f"choose from {', '.join(sorted(_INCLUDES))}",
            details={"field": "include"},
        )


async def scrape_page(inputs: ScrapeInput, config: ScrapeConfig, context: Context, fetcher: Fetcher) -> ScrapeOutput:
    """Fetch (unless HTML is given) and extract one page."""
    _check_includes(inputs.include)
    if inputs.html is None:
        fetched = await fetcher.fetch(inputs.url)
        if fetched.media_type not in _HTML_TYPES and not fetched.media_type.endswith("xml"):
            raise NonRetryableError(
                f"{inputs.url} is {fetched.media_type}, not HTML; fetch it with the http/request node instead",
                details={"media_type": fetched.media_type},
            )
        html, status, final_url = fetched.text(), fetched.status, fetched.final_url
        size, truncated = len(fetched.content), fetched.truncated
    else:
        html, status, final_url, size, truncated = inputs.html, 200, inputs.url, len(inputs.html.encode()), False
    page = Page(html, final_url)
    if inputs.remove:
        page = Page(_without(page, inputs.remove), final_url)
    include = set(inputs.include)
    output = ScrapeOutput(
        url=inputs.url, final_url=final_url, status=status, title=page.title, bytes=size, truncated=truncated
    )
    text = visible_text(page)
    output.checksum = content_checksum(text)
    if "text" in include:
        output.text = text
    if "main_text" in include:
        output.main_text = await asyncio.to_thread(main_content, page, "txt")
    if "markdown" in include:
        output.markdown = await asyncio.to_thread(main_content, page, "markdown")
    if "html" in include:
        output.html = html
    if "links" in include:
        output.links = extract_links(page, final_url)
    if "metadata" in include:
        output.metadata = metadata(page)
    if "tables" in include:
        output.tables = tables(page)
    await _fields(page, inputs, config, fetcher, context, output)
    return output


class Scrape(Node[ScrapeInput, ScrapeOutput, ScrapeConfig]):
    """Fetch a page politely and return its text, markdown, links, metadata, tables and chosen fields."""

    name = "scrape"
    title = "Scrape a page"
    secrets = (PROXY_SECRET, LLM_SECRET)

    async def run(self, inputs: ScrapeInput, config: ScrapeConfig, context: Context) -> ScrapeOutput:
        """Fetch and extract the page."""
        pool = _proxies(context)
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        async with Fetcher(
            config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
        ) as fetcher:
            output = await scrape_page(inputs, config, context, fetcher)
        output.proxy_log = pool.drain() if pool else []
        return output


class PagesInput(BaseModel):
    """One batch of a crawl: URLs to fetch, and how much they may weigh together."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=500)
    byte_budget: int | None = Field(default=None, ge=0, description="Bytes the batch may read in all.")
    include: list[str] = Field(default_factory=lambda: ["links"], description="As for scrape; links are always kept.")
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
    markdown: str | None = None
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    checksum: str = ""
    bytes: int = 0
    media_type: str = ""


class PagesOutput(BaseModel):
    """The batch's pages, in the order the URLs were given."""

    pages: list[PageResult]
    proxy_log: list[ProxyEvent] = Field(default_factory=list)
    budget_exhausted: bool = False


class FetchPages(Node[PagesInput, PagesOutput, ScrapeConfig]):
    """Fetch a batch of pages concurrently within a byte budget: the step a crawl repeats."""

    name = "fetch_pages"
    title = "Fetch pages (crawl batch)"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: PagesInput, config: ScrapeConfig, context: Context) -> PagesOutput:
        """Fetch the batch."""
        _check_includes(inputs.include)
        pool = _proxies(context)
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        remaining = [inputs.byte_budget]
        lock = asyncio.Lock()

        async def one(fetcher: Fetcher, url: str) -> PageResult:
            async with lock:
                cap = (
                    config.politeness.max_page_bytes
                    if remaining[0] is None
                    else min(config.politeness.max_page_bytes, remaining[0])
                )
                if cap <= 0:
                    return PageResult(url=url, error="byte budget spent", error_type="BudgetExhausted")
                if remaining[0] is not None:
                    remaining[0] -= cap  # reserve; the unused part is given back below
            fetched: Fetched | None = None
            try:
                fetched = await fetcher.fetch(url, max_bytes=cap)
                return _page_result(url, fetched, inputs)
            except SynthralError as exc:
                return PageResult(url=url, error=exc.message, error_type=exc.error_type)
            finally:
                if remaining[0] is not None:
                    async with lock:
                        remaining[0] += cap - (len(fetched.content) if fetched is not None else 0)

        async with Fetcher(
            config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
        ) as fetcher:
            pages = await asyncio.gather(*(one(fetcher, url) for url in inputs.urls))
        exhausted = any(page.error_type == "BudgetExhausted" for page in pages)
        return PagesOutput(pages=list(pages), proxy_log=pool.drain() if pool else [], budget_exhausted=exhausted)


def _page_result(url: str, fetched: Fetched, inputs: PagesInput) -> PageResult:
    result = PageResult(
        url=url,
        final_url=fetched.final_url,
        status=fetched.status,
        bytes=len(fetched.content),
        media_type=fetched.media_type,
    )
    if fetched.media_type not in _HTML_TYPES:
        result.checksum = content_checksum(fetched.content.decode("latin-1"))
        return result
    page = Page(fetched.text(), fetched.final_url)
    text = visible_text(page)
    result.title = page.title
    result.checksum = content_checksum(text)
    result.links = [link.url for link in extract_links(page, fetched.final_url)]
    if "text" in inputs.include:
        result.text = text
    if "markdown" in inputs.include:
        result.markdown = main_content(page, "markdown")
    for name, spec in inputs.fields.items():
        result.fields[name], _ = select_field(page, name, spec)
    return result
