"""A 10,000-page crawl killed half-way resumes without fetching again what it stored, within its budgets.

The crawl runs in its own process (``tests.support.crawl_runner``), as a worker would; the
test SIGKILLs that process and its plugin process while pages are being stored, then runs it
again, on both databases.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from synthral.services.app import App
from synthral.services.scraping import PAGE, CrawlRequest
from synthral.store.db import Database
from tests.conftest import REPO
from tests.host.services.web_support import web_app
from tests.support.web_site import WebSite

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
PAGES = 10_000


@pytest.fixture
def site() -> Iterator[WebSite]:
    """A fresh site per test: its hit counts are this crawl's alone (not the other backend's run)."""
    with WebSite(pages=PAGES) as running:
        yield running


@pytest.fixture
async def app(database: Database, web_home: Path, wheelhouse: Path) -> AsyncIterator[App]:
    async with web_app(database, web_home, wheelhouse) as running:
        yield running


def _start(home: Path, job_id: str, database: Database, wheelhouse: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SYNTHRAL_DATABASE_URL": database.url, "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
           "SYNTHRAL_EGRESS_ALLOW": "127.0.0.1"}  # fmt: skip
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.crawl_runner", str(home), job_id],
            cwd=REPO, env=env, start_new_session=True, stderr=stderr,
        )  # fmt: skip


async def _stored(database: Database, job_id: str) -> set[str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(PAGE.c.url).where(PAGE.c.job_id == job_id, PAGE.c.status == "stored"))
        return {row.url for row in rows}


async def test_a_killed_crawl_resumes_without_refetching_and_within_its_budget(
    app: App, database: Database, site: WebSite, web_home: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    log = tmp_path / "crawler.log"
    scraping = app.web_services().scraping
    budget = PAGES - 1500  # a budget the crawl reaches after the kill
    request = CrawlRequest(
        seeds=[f"{site.url}/p/0"], max_pages=budget, max_depth=10, batch_size=64, include=[],
        politeness={"requests_per_second": 1000, "concurrency_per_domain": 32},
    )  # fmt: skip
    job_id = await scraping.create_crawl(request, workspace_id=None)

    first = _start(web_home, job_id, database, wheelhouse, log)
    while len(before_kill := await _stored(database, job_id)) < budget // 2:
        assert first.poll() is None, log.read_text()
        await asyncio.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before_kill = await _stored(database, job_id)  # what the dead run had committed
    hits_at_kill = dict(site.hits)

    second = _start(web_home, job_id, database, wheelhouse, log)
    assert await asyncio.to_thread(second.wait) == 0, log.read_text()

    job = await scraping.job(None, job_id)
    stored = await _stored(database, job_id)
    assert job["status"] == "budget_exhausted"
    assert job["pages_stored"] + job["pages_failed"] == budget == len(stored)
    assert before_kill < stored
    paths = {url.removeprefix(site.url) for url in before_kill}
    refetched = [path for path in paths if site.hits[path] != hits_at_kill.get(path)]
    assert refetched == []  # nothing stored before the kill was fetched again
    # Fetched both before and after the kill: only the one batch that was in flight (a page's
    # own retries inside one run, which a loaded machine can cause, are not refetches).
    again = [
        url
        for url in stored
        if hits_at_kill.get(path := url.removeprefix(site.url)) and site.hits[path] > hits_at_kill[path]
    ]
    assert len(again) <= request.batch_size, again
