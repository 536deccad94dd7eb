"""The web nodes the host runs itself, bound to its services: ``scraping/crawl`` and ``watch/page``.

They run in the host process like the ``code`` nodes because their state is the host's: a
crawl's frontier and budgets, a watch's last version. The fetching itself is done by engine
plugins (``scrape-html``, ``scrape-playwright``...) through the plugin host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from synthral.errors import InputInvalid
from synthral.services.browser import DEFAULT_BROWSER, BrowserRequest
from synthral.services.scraping import CrawlRequest
from synthral.services.watch import ChangeCheck, WatchRequest
from synthral_sdk import Context, Node, hookimpl

if TYPE_CHECKING:
    from synthral.services.browser import BrowserService
    from synthral.services.scraping import ScrapingService
    from synthral.services.watch import WatchService

__all__ = ["BrowserNodes", "ScrapingNodes", "WatchNodes"]


class CrawlInput(BaseModel):
    """Resume a crawl made through the API (``job_id``), or leave it empty to crawl by the config."""

    model_config = ConfigDict(extra="forbid")

    job_id: str | None = Field(default=None, description="A crawl job to run or resume.")
    seeds: list[str] | None = Field(default=None, description="Seeds for this run (over the config's).")


class CrawlConfig(BaseModel):
    """The crawl's rules when the node starts its own: as POST /api/v1/scraping/crawl takes them."""

    model_config = ConfigDict(extra="allow")


class CrawlOutput(BaseModel):
    """How the crawl ended."""

    job_id: str
    status: str
    pages_stored: int
    pages_failed: int
    bytes_stored: int
    duplicates: int
    pages: dict[str, int]


class Crawl(Node[CrawlInput, CrawlOutput, CrawlConfig]):
    """Crawl from seeds within page, byte and depth budgets; a rerun resumes where the last one stopped."""

    name = "crawl"
    title = "Crawl"
    category = "Web"
    icon = "globe"

    def __init__(self, service: ScrapingService) -> None:
        self.service = service

    async def run(self, inputs: CrawlInput, config: CrawlConfig, context: Context) -> CrawlOutput:
        """Run or resume the crawl; the step's idempotency key names its job, so a retry continues it."""
        job_id = inputs.job_id
        if job_id is None:
            rules = dict(config.model_extra or {})
            if inputs.seeds is not None:
                rules["seeds"] = inputs.seeds
            try:
                request = CrawlRequest.model_validate(rules)
            except ValueError as exc:
                raise InputInvalid(f"the crawl's config is not valid: {exc}; fix the node's config") from None
            workspace = await self.service.records.workspace_of(context.execution_id)
            job_id = await self.service.create_crawl(
                request, workspace_id=workspace, key=context.idempotency_key, execution_id=context.execution_id
            )
        job = await self.service.run_crawl(job_id, events=context.emit)
        return CrawlOutput(
            job_id=job_id,
            status=job["status"],
            pages_stored=job["pages_stored"],
            pages_failed=job["pages_failed"],
            bytes_stored=job["bytes_stored"],
            duplicates=job["duplicates"],
            pages=job["pages"],
        )


class ScrapingNodes:
    """The ``scraping`` plugin: the crawl node, bound to one scraping service."""

    def __init__(self, service: ScrapingService) -> None:
        self.nodes: list[Node[Any, Any, Any]] = [Crawl(service)]

    @hookimpl
    def synthral_nodes(self) -> list[Node[Any, Any, Any]]:
        """The scraping nodes."""
        return self.nodes


class WatchInput(BaseModel):
    """Nothing: a watch node checks what its config names."""

    model_config = ConfigDict(extra="forbid")


class WatchConfig(BaseModel):
    """A watch by id (made with POST /api/v1/scraping/change-detection), or a page to watch from this node."""

    model_config = ConfigDict(extra="forbid")

    watch_id: str | None = None
    url: str | None = None
    selector: str | None = None
    engine: str = "scrape-html/scrape"
    filters: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one(self) -> WatchConfig:
        if (self.watch_id is None) == (self.url is None):
            raise ValueError("set either watch_id (a watch made through the API) or url (a page to watch), not both")
        return self


class WatchPage(Node[WatchInput, ChangeCheck, WatchConfig]):
    """Check a page for changes against its last version; the output says whether it changed, with the diff."""

    name = "page"
    title = "Watch a page"
    category = "Web"
    icon = "eye"

    def __init__(self, service: WatchService) -> None:
        self.service = service

    async def run(self, inputs: WatchInput, config: WatchConfig, context: Context) -> ChangeCheck:
        """Check the page once."""
        watch_id = config.watch_id
        if watch_id is None:
            workspace = await self.service.scraping.records.workspace_of(context.execution_id)
            request = WatchRequest.model_validate(
                {"url": config.url, "selector": config.selector, "engine": config.engine, "filters": config.filters}
            )
            watch_id = await self.service.find_or_create(workspace, request)
        return await self.service.check(watch_id)


class WatchNodes:
    """The ``watch`` plugin: change detection, bound to one watch service."""

    def __init__(self, service: WatchService) -> None:
        self.nodes: list[Node[Any, Any, Any]] = [WatchPage(service)]

    @hookimpl
    def synthral_nodes(self) -> list[Node[Any, Any, Any]]:
        """The watch nodes."""
        return self.nodes


class BrowserRunInput(BaseModel):
    """Actions to run; steps of one run naming the same session share its cookies and storage."""

    model_config = ConfigDict(extra="forbid")

    actions: list[dict[str, JsonValue]] = Field(min_length=1, max_length=500)
    session: str = Field(default="default", max_length=100, description="The session's name within the run.")


class BrowserRunConfig(BaseModel):
    """Which browser, and how."""

    model_config = ConfigDict(extra="forbid")

    engine: str = Field(default=DEFAULT_BROWSER, description="A browser capability, 'plugin/capability'.")
    config: dict[str, JsonValue] = Field(default_factory=dict, description="The engine's config.")
    continue_on_error: bool = False
    proxy_credential: str | None = None
    close: bool = Field(default=False, description="Close the session after this step.")


class BrowserRunOutput(BaseModel):
    """The session and each action's result (screenshots and files as blob references)."""

    session_id: str
    ok: bool
    results: list[dict[str, JsonValue]]
    url: str | None = None
    title: str | None = None
    refused: list[str] = Field(default_factory=list)


class BrowserRun(Node[BrowserRunInput, BrowserRunOutput, BrowserRunConfig]):
    """Run browser actions in the run's named session: a login in one step holds in the next."""

    name = "run"
    title = "Browser"
    category = "Web"
    icon = "app-window"

    def __init__(self, service: BrowserService) -> None:
        self.service = service

    async def run(self, inputs: BrowserRunInput, config: BrowserRunConfig, context: Context) -> BrowserRunOutput:
        """Run the actions in the run's session."""
        workspace = await self.service.records.workspace_of(context.execution_id)
        session_id = await self.service.open_session(
            workspace_id=workspace, engine=config.engine, name=inputs.session, execution_id=context.execution_id
        )
        request = BrowserRequest(
            actions=inputs.actions,
            engine=config.engine,
            config=config.config,
            continue_on_error=config.continue_on_error,
            proxy_credential=config.proxy_credential,
            close=config.close,
        )
        result = await self.service.execute(request, workspace_id=workspace, session_id=session_id)
        return BrowserRunOutput.model_validate(result)


class BrowserNodes:
    """The ``browser`` plugin: browser sessions, bound to one browser service."""

    def __init__(self, service: BrowserService) -> None:
        self.nodes: list[Node[Any, Any, Any]] = [BrowserRun(service)]

    @hookimpl
    def synthral_nodes(self) -> list[Node[Any, Any, Any]]:
        """The browser nodes."""
        return self.nodes
