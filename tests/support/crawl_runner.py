"""Runs one crawl job in its own process, as a worker would: ``python -m tests.support.crawl_runner HOME JOB_ID``.

The database is ``SYNTHRAL_DATABASE_URL``'s. The recovery test starts it, kills it with
SIGKILL half-way, and starts it again.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from synthral.config import Settings
from synthral.services.app import open_app


async def main(home: str, job_id: str) -> None:
    async with open_app(Settings.load(home=Path(home))) as app:
        await app.web_services().scraping.run_crawl(job_id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
