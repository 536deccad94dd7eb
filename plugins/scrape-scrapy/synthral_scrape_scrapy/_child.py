"""The crawl itself, in a child process: ``python -m synthral_scrape_scrapy._child`` reads a job on stdin.

It writes one JSON object per line to stdout as things happen: ``{"kind": "item", "data": …}``
for each scraped item, ``{"kind": "proxy", …}`` for each proxy use, ``{"kind": "refused", …}``
for each request the network policy refused, and ``{"kind": "stats", …}`` at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

from synthral_sdk.web import Politeness, ProxyPool, UserAgents, domain_of, parse_proxy_list

_OUT = sys.stdout
_LOCK = threading.Lock()


def emit(kind: str, data: Any) -> None:
    """One line to the parent."""
    line = json.dumps({"kind": kind, "data": data}, default=str)
    with _LOCK:
        _OUT.write(line + "\n")
        _OUT.flush()


class PolicyMiddleware:
    """Refuses requests whose host the call's network policy does not allow (redirects come through here too)."""

    def __init__(self, network: Any) -> None:
        self.network = network

    @classmethod
    def from_crawler(cls, crawler: Any) -> PolicyMiddleware:
        return cls(crawler.settings.get("SYNTHRAL_NETWORK"))

    def process_request(self, request: Request, spider: Spider) -> None:
        if self.network is None:
            return
        import socket  # noqa: PLC0415

        host = request.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        try:
            if os.environ.get("SYNTHRAL_EGRESS_PROXY"):
                # The host's OS sandbox: names do not resolve here; its egress proxy, the only way
                # out, resolves them and judges them by the same policy. An address is judged here.
                with contextlib.suppress(ValueError):
                    self.network.permitted(host, [str(ipaddress.ip_address(host))])
                return
            addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
            self.network.permitted(host, addresses)
        except Exception as exc:  # noqa: BLE001 -- EgressDenied, or a name that does not resolve: refused either way
            emit("refused", {"url": request.url, "reason": str(exc)})
            raise IgnoreRequest(str(exc)) from None


class BudgetMiddleware:
    """A hard page budget: requests past ``max_pages`` are never sent (Scrapy's own close is soft)."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self.sent = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> BudgetMiddleware:
        return cls(crawler.settings.getint("SYNTHRAL_MAX_PAGES"))

    def process_request(self, request: Request, spider: Spider) -> None:
        if request.url.endswith("/robots.txt") or not self.max_pages:
            return
        if self.sent >= self.max_pages:
            raise IgnoreRequest(f"the page budget of {self.max_pages} is spent")
        self.sent += 1


class RotationMiddleware:
    """User-Agent rotation and the proxy pool, from the SDK's shared layer."""

    def __init__(self, politeness: Politeness, proxies: str | None) -> None:
        self.politeness = politeness
        self.agents = UserAgents()
        self.pool = ProxyPool(parse_proxy_list(proxies)) if proxies else None

    @classmethod
    def from_crawler(cls, crawler: Any) -> RotationMiddleware:
        return cls(
            Politeness.model_validate(crawler.settings.get("SYNTHRAL_POLITENESS")),
            crawler.settings.get("SYNTHRAL_PROXIES"),
        )

    def process_request(self, request: Request, spider: Spider) -> None:
        domain = domain_of(request.url)
        request.headers["User-Agent"] = self.agents.pick(domain, self.politeness)
        if self.pool is not None:
            proxy = self.pool.choose(domain)
            request.meta["proxy"] = proxy.url
            request.meta["synthral_proxy"] = proxy

    def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        proxy = request.meta.get("synthral_proxy")
        if self.pool is not None and proxy is not None:
            ok = response.status < 400 or response.status == 404
            event = self.pool.report(
                proxy, domain_of(request.url), status_code=response.status, ok=ok,
                latency_ms=int(1000 * float(request.meta.get("download_latency") or 0)),
            )  # fmt: skip
            emit("proxy", event.model_dump(mode="json"))
        if response.status in (403, 429):
            self.agents.blocked(domain_of(request.url))
        return response


def _value(selection: Any, spec: dict[str, Any]) -> Any:
    return selection.getall() if spec.get("all") else selection.get()


def extract(response: Response, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The item of one page: its URL, title and the fields by CSS or XPath."""
    item: dict[str, Any] = {"url": response.url, "title": (response.css("title::text").get() or "").strip()}
    for name, spec in fields.items():
        if spec.get("xpath"):
            path = spec["xpath"] + (f"/@{spec['attr']}" if spec.get("attr") else "")
            item[name] = _value(response.xpath(path), spec)
        else:
            suffix = f"::attr({spec['attr']})" if spec.get("attr") else "::text"
            item[name] = _value(response.css(spec["css"] + suffix), spec)
    return item


def build_spider(job: dict[str, Any]) -> type[Spider]:
    """A CrawlSpider from start URLs, link rules and fields."""
    fields = job.get("fields") or {}
    extractor = LinkExtractor(allow=job.get("allow") or (), deny=job.get("deny") or ())
    follow = bool(job.get("follow", True))

    class RuleSpider(CrawlSpider):
        name = "synthral"
        start_urls = job["start_urls"]
        allowed_domains = job.get("allowed_domains") or sorted({domain_of(url) for url in job["start_urls"]})
        rules = (Rule(extractor, callback="parse_item", follow=follow),)

        def parse_start_url(self, response: Response, **kwargs: Any) -> Iterator[dict[str, Any]]:
            yield extract(response, fields)

        def parse_item(self, response: Response) -> Iterator[dict[str, Any]]:
            yield extract(response, fields)

    return RuleSpider


def load_spider(reference: str) -> type[Spider]:
    """An installed spider class, ``module:Class``."""
    folder = os.environ.get("SYNTHRAL_SCRAPY_SPIDERS")
    if folder:
        sys.path.insert(0, folder)
    module_name, _, class_name = reference.partition(":")
    spider = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(spider, type) and issubclass(spider, Spider)):
        raise TypeError(f"{reference} is not a scrapy.Spider subclass")
    return spider


def on_item(item: Any, response: Response, spider: Spider) -> None:
    """Stream one scraped item to the parent."""
    del response, spider
    emit("item", dict(item))


def settings_for(job: dict[str, Any]) -> dict[str, Any]:
    """Scrapy settings from the shared politeness model and the job's budgets."""
    politeness = Politeness.model_validate(job.get("politeness") or {})
    network = None
    if job.get("network") is not None:
        from synthral_sdk.network import NetworkPolicy  # noqa: PLC0415 -- present once the SDK has the policy

        network = NetworkPolicy.from_wire(job["network"])
    return {
        "ROBOTSTXT_OBEY": politeness.respect_robots,
        "DOWNLOAD_DELAY": 1.0 / politeness.requests_per_second,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "CONCURRENT_REQUESTS": max(16, politeness.concurrency_per_domain),
        "CONCURRENT_REQUESTS_PER_DOMAIN": politeness.concurrency_per_domain,
        "RETRY_TIMES": politeness.retries,
        "DOWNLOAD_TIMEOUT": politeness.timeout_s,
        "DOWNLOAD_MAXSIZE": politeness.max_page_bytes,
        "DEPTH_LIMIT": int(job.get("max_depth") or 0),
        "CLOSESPIDER_PAGECOUNT": int(job.get("max_pages") or 0),
        "CLOSESPIDER_ITEMCOUNT": int(job.get("max_items") or 0),
        "CLOSESPIDER_TIMEOUT": float(job.get("timeout_s") or 0),
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "DOWNLOADER_MIDDLEWARES": {
            "synthral_scrape_scrapy._child.PolicyMiddleware": 50,
            "synthral_scrape_scrapy._child.BudgetMiddleware": 60,
            "synthral_scrape_scrapy._child.RotationMiddleware": 400,
        },
        "SYNTHRAL_NETWORK": network,
        "SYNTHRAL_MAX_PAGES": int(job.get("max_pages") or 0),
        "SYNTHRAL_POLITENESS": politeness.model_dump(),
        "SYNTHRAL_PROXIES": job.get("proxies"),
    }


def main() -> None:
    """Run the job read from stdin."""
    job = json.loads(sys.stdin.read())
    sys.stdout = sys.stderr  # only emit() writes to the real stdout
    spider = load_spider(job["spider"]) if job.get("spider") else build_spider(job)
    process = CrawlerProcess({**settings_for(job), "LOG_INSTALL_ROOT_HANDLER": False})
    crawler = process.create_crawler(spider)
    crawler.signals.connect(on_item, signal=signals.item_scraped)  # a module function: signals hold weak references
    process.crawl(crawler, **(job.get("spider_args") or {}))
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    emit("stats", {k: v for k, v in stats.items() if isinstance(v, int | float | str)})


if __name__ == "__main__":
    main()
