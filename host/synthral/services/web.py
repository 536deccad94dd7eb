"""The web services of one host process, made together and registered once: scraping, browsers, watches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthral.services.browser import BrowserService
from synthral.services.browser_state import StateVault
from synthral.services.scraping import ScrapingService
from synthral.services.watch import WatchService
from synthral.services.web_records import WebRecords

if TYPE_CHECKING:
    from synthral.plugins.host import PluginHost
    from synthral.services.secrets import CredentialService
    from synthral.services.workflows import WorkflowService
    from synthral.store.db import Database

__all__ = ["WebServices", "open_web"]


@dataclass(frozen=True)
class WebServices:
    """Scraping and crawls, browser sessions, page watches, and what they share."""

    records: WebRecords
    scraping: ScrapingService
    browser: BrowserService
    watch: WatchService


def open_web(
    database: Database, plugins: PluginHost, credentials: CredentialService, workflows: WorkflowService
) -> WebServices:
    """Make the web services and register their nodes (``scraping/crawl``, ``browser/run``, ``watch/page``)."""
    from synthral.builtins.web import BrowserNodes, ScrapingNodes, WatchNodes  # noqa: PLC0415 -- they import the services

    records = WebRecords(database, credentials)
    scraping = ScrapingService(database, plugins, records)
    services = WebServices(
        records=records,
        scraping=scraping,
        browser=BrowserService(
            database, plugins, records, StateVault(credentials.keyring, plugins.blobs, plugins.delete_blob)
        ),
        watch=WatchService(database, scraping, workflows),
    )
    plugins.register_builtin("scraping", ScrapingNodes(services.scraping))
    plugins.register_builtin("browser", BrowserNodes(services.browser))
    plugins.register_builtin("watch", WatchNodes(services.watch))
    return services
