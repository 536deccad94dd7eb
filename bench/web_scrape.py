"""Scraping and browser benchmarks on a local site served on loopback, in one run.

- Static crawl, pages per second: the host's durable crawl over ``scrape-html`` (frontier in
  SQLite, a transaction per batch, the plugin in its own venv), the plugin's batches alone,
  and Scrapy (``scrape-scrapy``) on the same site with the same politeness.
- JavaScript pages per second: ``scrape-playwright`` and ``scrape-crawl4ai`` rendering pages
  whose content a script writes.
- Browser action round trip: one ``evaluate`` through ``browser-playwright`` (a warm
  browser), and a ``goto`` + ``extract``.

Plugins run as in production: each runner in its plugin's own venv (``plugins/<name>/.venv``,
made by ``uv sync`` there). The site runs in its own process so it competes for the CPU like
any remote site's network would not: figures are for two shared cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import Result, percentile
from synthral_sdk.testing import RunnerClient
from tests.support.web_site import free_port

GROUP = "scrape"
REPO = Path(__file__).resolve().parent.parent
POLITE = {"requests_per_second": 1000, "concurrency_per_domain": 32, "retries": 0}


def _venv(plugin: str) -> str:
    python = REPO / "plugins" / plugin / ".venv" / "bin" / "python"
    if not python.is_file():
        subprocess.run(["uv", "sync", "--quiet"], cwd=REPO / "plugins" / plugin, check=True)
    return str(python)


@contextlib.contextmanager
def _site(pages: int) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.web_site", str(port), str(pages)], cwd=REPO, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    try:
        yield url
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _runner(plugin: str, dist: str, blobs: Path) -> Iterator[RunnerClient]:
    with RunnerClient(dist, python=_venv(plugin), blob_root=blobs) as client:
        yield client


def _batches(runner: RunnerClient, capability: str, seed: str, total: int, batch: int, include: list[str]) -> float:
    """Follow links breadth-first through the plugin's batch capability; pages per second."""
    frontier, seen, done = [seed], {seed}, 0
    started = time.perf_counter()
    while frontier and done < total:
        urls, frontier = frontier[: min(batch, total - done)], frontier[min(batch, total - done) :]
        out = runner.invoke(capability, {"urls": urls, "include": include}, config={"politeness": POLITE}, timeout=600)
        for page in out["pages"]:
            done += 1
            for link in page.get("links") or []:
                if link not in seen and "/private" not in link:
                    seen.add(link)
                    frontier.append(link)
    return done / (time.perf_counter() - started)


async def _durable_crawl(site: str, pages: int, home: Path) -> tuple[float, float]:
    """The host's crawl over scrape-html: pages per second, and the share of time outside the plugin."""
    from synthral.config import Settings  # noqa: PLC0415
    from synthral.plugins.permissions import GrantRequest  # noqa: PLC0415
    from synthral.services.app import open_app  # noqa: PLC0415
    from synthral.services.scraping import CrawlRequest  # noqa: PLC0415

    settings = Settings.load(home=home).replace(plugins={"call_timeout": 600.0})
    async with open_app(settings, local=True) as app:  # local mode: the site is on this machine's loopback
        await app.plugins.install(str(REPO / "plugins" / "scrape-html"), grant=GrantRequest(items=["all"]))
        scraping = app.web_services().scraping
        request = CrawlRequest(
            seeds=[f"{site}/p/0"], max_pages=pages, max_depth=10, batch_size=64, include=[], politeness=POLITE
        )
        job_id = await scraping.create_crawl(request, workspace_id=None)
        await app.plugins.invoke("scrape-html/fetch_pages", {"urls": [f"{site}/p/0"]})  # a warm runner
        started = time.perf_counter()
        job = await scraping.run_crawl(job_id)
        elapsed = time.perf_counter() - started
        assert job["pages_stored"] == pages, job
    return pages / elapsed, elapsed


def _scrapy(runner: RunnerClient, site: str, pages: int) -> float:
    payload = {"start_urls": [f"{site}/p/0"], "allow": [r"/p/\d+$"], "max_depth": 10, "max_pages": pages}
    started = time.perf_counter()
    out = runner.invoke("crawl", payload, config={"politeness": POLITE, "keep_items": 0}, timeout=900)
    elapsed = time.perf_counter() - started
    return out["pages"] / elapsed


def _round_trips(runner: RunnerClient, site: str, n: int) -> tuple[list[float], list[float]]:
    runner.invoke("browser", {"actions": [{"action": "goto", "url": f"{site}/p/1"}]}, timeout=120)  # warm browser
    evaluate, page = [], []
    for _ in range(n):
        started = time.perf_counter()
        runner.invoke("browser", {"actions": [{"action": "evaluate", "script": "() => 1"}]}, timeout=60)
        evaluate.append(time.perf_counter() - started)
        started = time.perf_counter()
        runner.invoke(
            "browser",
            {"actions": [{"action": "goto", "url": f"{site}/p/2"}, {"action": "extract", "selector": "h1"}]},
            timeout=60,
        )
        page.append(time.perf_counter() - started)
    return evaluate, page


def _control() -> float:
    """Seconds for a 10 M-iteration Python loop: the docs' machine takes ~1.7 s when idle."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


async def run(quick: bool) -> list[Result]:
    """Every scraping figure, measured in one run."""
    static_pages = 500 if quick else 3000
    js_pages = 20 if quick else 120
    results: list[Result] = []
    load = os.getloadavg()[0]
    control_before = _control()
    with (
        tempfile.TemporaryDirectory(prefix="synthral-bench-scrape-") as scratch,
        _site(max(static_pages, 2000)) as site,
    ):
        blobs = Path(scratch) / "blobs"
        crawl_rate, _ = await _durable_crawl(site, static_pages, Path(scratch) / "home")
        results.append(
            Result(GROUP, f"static crawl, host durable crawl over scrape-html ({static_pages} pages)", crawl_rate,
                   "pages/s", ">= 100", crawl_rate >= 100, {"load_1min": load})
        )  # fmt: skip
        with _runner("scrape-html", "synthral-scrape-html", blobs) as html:
            batch_rate = await asyncio.to_thread(_batches, html, "fetch_pages", f"{site}/p/0", static_pages, 64, [])
        results.append(
            Result(GROUP, "static crawl, scrape-html batches alone", batch_rate, "pages/s", ">= 100", batch_rate >= 100)
        )
        with _runner("scrape-scrapy", "synthral-scrape-scrapy", blobs) as scrapy:
            scrapy_rate = await asyncio.to_thread(_scrapy, scrapy, site, static_pages)
        results.append(Result(GROUP, "static crawl, Scrapy on the same site", scrapy_rate, "pages/s"))
        results.append(Result(GROUP, "durable crawl / Scrapy", crawl_rate / scrapy_rate, "x"))
        with _runner("scrape-playwright", "synthral-scrape-playwright", blobs) as playwright:
            playwright.invoke("render", {"url": f"{site}/j/0"}, config={"politeness": POLITE}, timeout=120)
            rate = await asyncio.to_thread(_batches, playwright, "render_pages", f"{site}/j/0", js_pages, 16, [])
        results.append(Result(GROUP, "JavaScript pages, scrape-playwright (4 tabs)", rate, "pages/s"))
        with _runner("scrape-crawl4ai", "synthral-scrape-crawl4ai", blobs) as crawl4ai:
            rate = await asyncio.to_thread(_batches, crawl4ai, "fetch_pages", f"{site}/j/0", js_pages, 16, [])
        results.append(
            Result(GROUP, "JavaScript pages, scrape-crawl4ai (4 tabs, a browser per batch)", rate, "pages/s")
        )
        with _runner("browser-playwright", "synthral-browser-playwright", blobs) as browser:
            evaluate, page = await asyncio.to_thread(_round_trips, browser, site, 5 if quick else 30)
        results.append(
            Result(GROUP, "browser action round trip (evaluate), p50", percentile(evaluate, 50) * 1000, "ms",
                   extra={"p90_ms": percentile(evaluate, 90) * 1000, "mean_ms": statistics.fmean(evaluate) * 1000})
        )  # fmt: skip
        results.append(
            Result(GROUP, "browser goto + extract round trip, p50", percentile(page, 50) * 1000, "ms",
                   extra={"p90_ms": percentile(page, 90) * 1000})
        )  # fmt: skip
    results.append(Result(GROUP, "machine load (1 min) at the start / at the end", load, "",
                          extra={"load_1min_end": os.getloadavg()[0]}))  # fmt: skip
    results.append(
        Result(GROUP, "CPU control: 10 M-iteration loop, before / after (idle machine ~1.7 s)", control_before, "s",
               extra={"after_s": _control()})
    )  # fmt: skip
    return results
