"""The ``crawl`` node: a Scrapy spider in a child process, items streamed to the host as they come."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from synthral_sdk import Context, Node
from synthral_sdk.errors import NonRetryableError, RetryableError
from synthral_sdk.web import Politeness, ProxyEvent, network_of

__all__ = ["Crawl"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
_SPIDER: Final = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class FieldSpec(BaseModel):
    """A field of each item, by CSS or XPath."""

    model_config = ConfigDict(extra="forbid")

    css: str | None = None
    xpath: str | None = None
    attr: str | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> FieldSpec:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of 'css' or 'xpath'")
        return self


class CrawlConfig(BaseModel):
    """Politeness and limits of the crawl."""

    model_config = ConfigDict(extra="forbid")

    politeness: Politeness = Field(default_factory=Politeness)
    timeout_s: float = Field(default=600.0, gt=0, le=86_400, description="The crawl stops after this.")
    keep_items: int = Field(default=1000, ge=0, le=100_000, description="Items kept in the answer (all are streamed).")


class CrawlInput(BaseModel):
    """A spider from start URLs and rules, or an installed one by name."""

    model_config = ConfigDict(extra="forbid")

    start_urls: list[str] = Field(default_factory=list, max_length=10_000)
    allow: list[str] = Field(default_factory=list, description="Follow links matching one of these regexes.")
    deny: list[str] = Field(default_factory=list, description="Never follow links matching these regexes.")
    follow: bool = True
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    max_depth: int = Field(default=3, ge=0, le=100)
    max_pages: int = Field(default=100, ge=1, le=10_000_000)
    max_items: int | None = Field(default=None, ge=1)
    spider: str | None = Field(default=None, description="An installed spider, 'module:Class', instead of the rules.")
    spider_args: dict[str, JsonValue] = Field(default_factory=dict, description="Arguments for the installed spider.")

    @field_validator("allow", "deny")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _what(self) -> CrawlInput:
        if self.spider is None and not self.start_urls:
            raise ValueError("give start_urls (with rules) or spider ('module:Class' of an installed spider)")
        if self.spider is not None and not _SPIDER.match(self.spider):
            raise ValueError(f"spider {self.spider!r} must read 'module:Class', e.g. 'shop_spiders.products:Products'")
        for url in self.start_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"start URL {url[:200]!r} is not an absolute http(s) URL")
        return self


class CrawlOutput(BaseModel):
    """How the crawl went; every item was streamed as it came, the first ``keep_items`` are here too."""

    item_count: int
    items: list[dict[str, JsonValue]]
    pages: int = 0
    finish_reason: str = ""
    refused: list[str] = Field(default_factory=list)
    proxy_log: list[ProxyEvent] = Field(default_factory=list)
    stats: dict[str, JsonValue] = Field(default_factory=dict)


class Crawl(Node[CrawlInput, CrawlOutput, CrawlConfig]):
    """Run a Scrapy spider (rules or an installed spider); items stream back as they are scraped."""

    name = "crawl"
    title = "Scrapy crawl"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: CrawlInput, config: CrawlConfig, context: Context) -> CrawlOutput:
        """Start the child, stream its items, and answer when it ends."""
        network = network_of(context)
        job: dict[str, Any] = {
            **inputs.model_dump(mode="json"),
            "politeness": config.politeness.model_dump(),
            "timeout_s": config.timeout_s,
            "proxies": context.secrets.get(PROXY_SECRET),
            "network": network.to_wire() if network is not None and hasattr(network, "to_wire") else None,
        }
        if not config.politeness.respect_robots:
            context.log.warning("robots.txt is not honoured for this crawl: the workflow switched respect_robots off")
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synthral_scrape_scrapy._child",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )  # fmt: skip
        assert child.stdin is not None
        assert child.stdout is not None
        assert child.stderr is not None
        child.stdin.write(json.dumps(job).encode())
        await child.stdin.drain()
        child.stdin.close()
        stderr_task = asyncio.ensure_future(child.stderr.read())
        output = CrawlOutput(item_count=0, items=[])
        try:
            async for line in child.stdout:
                message = json.loads(line)
                kind, data = message["kind"], message["data"]
                if kind == "item":
                    output.item_count += 1
                    if len(output.items) < config.keep_items:
                        output.items.append(data)
                    context.emit("scrape.item", data)
                elif kind == "proxy":
                    output.proxy_log.append(ProxyEvent.model_validate(data))
                elif kind == "refused":
                    output.refused.append(f"{data['url']}: {data['reason']}")
                elif kind == "stats":
                    output.stats = data
            status = await child.wait()
        finally:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        errors = (await stderr_task).decode(errors="replace")
        if status != 0:
            last = errors.strip().splitlines()[-1:] or ["no message"]
            if "ModuleNotFoundError" in errors or "is not a scrapy.Spider" in errors or "AttributeError" in errors:
                raise NonRetryableError(
                    f"the spider {inputs.spider!r} could not be loaded ({last[0][:300]}); install it in the plugin's "
                    "venv or put it in the SYNTHRAL_SCRAPY_SPIDERS folder",
                    details={"spider": inputs.spider},
                )
            raise RetryableError(f"the Scrapy process failed with status {status}: {last[0][:500]}")
        received = output.stats.get("response_received_count") or 0
        robots = output.stats.get("robotstxt/response_count") or 0
        output.pages = int(received) - int(robots)  # type: ignore[call-overload]
        output.finish_reason = str(output.stats.get("finish_reason") or "")
        return output
