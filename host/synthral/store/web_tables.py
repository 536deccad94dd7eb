"""Tables of the web: scrape jobs and their pages, proxies, domain profiles, checksums, browsers, page watches.

Declared with SQLAlchemy Core on the one metadata of :mod:`synthral.store.tables`, which
imports this module; times are timezone-aware UTC (:class:`~synthral.store.tables.UTCDateTime`).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from synthral.store.tables import UTCDateTime, metadata, new_id

__all__ = [
    "BROWSER_ACTION",
    "BROWSER_SESSION",
    "CHANGE_DETECTION",
    "CONTENT_CHECKSUM",
    "DOMAIN_PROFILE",
    "PROXY_LOG",
    "SCRAPE_JOB",
    "SCRAPE_PAGE",
]


def _id() -> Column[str]:
    return Column("id", String, primary_key=True, default=new_id)


def _workspace() -> Column[str]:
    return Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
        comment="The workspace it belongs to; NULL for local use.",
    )


def _ts(name: str, comment: str, *, nullable: bool = True) -> Column[Any]:
    return Column(name, UTCDateTime(), nullable=nullable, comment=comment)


def _json(name: str, comment: str) -> Column[Any]:
    return Column(name, JSON, nullable=True, comment=comment)


def _str(name: str, comment: str | None = None, *, nullable: bool = True, **kwargs: Any) -> Column[Any]:
    return Column(name, String, nullable=nullable, comment=comment, **kwargs)


def _text(name: str, comment: str | None = None, *, nullable: bool = True) -> Column[Any]:
    return Column(name, Text, nullable=nullable, comment=comment)


def _int(name: str, comment: str | None = None, *, default: int | None = 0) -> Column[Any]:
    """An integer column: NOT NULL with ``default``, or nullable without one (``default=None``)."""
    if default is None:
        return Column(name, Integer, nullable=True, comment=comment)
    return Column(name, Integer, nullable=False, default=default, comment=comment)


SCRAPE_JOB: Final = Table(
    "scrape_job",
    metadata,
    _id(),
    _workspace(),
    _str("key", "Idempotency key (execution/node/iteration); a rerun finds its job."),
    _str("kind", "scrape|crawl", nullable=False),
    _str("engine", "The capability that fetches, e.g. 'scrape-html/fetch_pages'.", nullable=False),
    _text("url", "The page, or the crawl's first seed.", nullable=False),
    _json("request", "What was asked: seeds, rules, budgets, politeness, config."),
    _str("status", "queued|running|completed|budget_exhausted|failed|cancelled", nullable=False, index=True),
    _int("max_pages", "Pages the crawl may store at most.", default=None),
    _int("max_bytes", "Bytes the crawl may read at most.", default=None),
    _int("pages_stored", "Pages fetched and kept."),
    _int("pages_failed", "Pages that could not be fetched."),
    _int("bytes_stored", "Bytes read by the pages kept and failed."),
    _json("result", "A scrape's output, or a crawl's summary."),
    _text("error", "Why it failed."),
    _str("execution_id", "The run it belongs to, if any."),
    _str("created_by", "Who asked (API); NULL from a run."),
    _ts("created_at", "When it was asked for.", nullable=False),
    _ts("started_at", "When work began."),
    _ts("finished_at", "When it ended; NULL while it runs."),
    UniqueConstraint("key", name="uq_scrape_job_key"),
)
"""A scrape of one page or a crawl of many: what was asked, how far it came, how it ended."""

SCRAPE_PAGE: Final = Table(
    "scrape_page",
    metadata,
    _id(),
    Column("job_id", String, ForeignKey("scrape_job.id", ondelete="CASCADE"), nullable=False),
    _text("url", nullable=False),
    _str("url_hash", "SHA-256 of the URL: unique per job, so a URL is queued once.", nullable=False),
    _int("depth", "Links followed from a seed."),
    _str(
        "status",
        "pending|fetching|stored|failed|skipped. fetching rows of a dead run go back to pending.",
        nullable=False,
    ),
    _int("http_status", default=None),
    _text("final_url"),
    _text("title"),
    _str("checksum", "Content checksum of the visible text."),
    Column(
        "duplicate", Boolean, nullable=False, default=False, comment="Its checksum was seen before in the workspace."
    ),
    _int("bytes"),
    _json("content", "Blob reference of the page's text/markdown/fields (JSON)."),
    _text("error"),
    _ts("fetched_at", "When it was stored or failed."),
    UniqueConstraint("job_id", "url_hash", name="uq_scrape_page_url"),
    Index("ix_scrape_page_frontier", "job_id", "status", "depth"),
)
"""One URL of a crawl: its place in the frontier and, once stored, what came back."""

PROXY_LOG: Final = Table(
    "proxy_log",
    metadata,
    _id(),
    _str("workspace_id", "The workspace whose call it was."),
    _str("ip_id", "The proxy's stable id (hash of scheme://host:port).", nullable=False, index=True),
    _str("proxy", "scheme://host:port, never credentials.", nullable=False),
    _str("agent_id", "The job or browser session using it."),
    _str("domain_scraped", nullable=False),
    Column("status_code", Integer, nullable=False, comment="The answer's status; 0 when none came."),
    Column("ok", Boolean, nullable=False, default=True),
    _int("retry_count"),
    _str("block_reason"),
    _int("latency_ms"),
    _ts("timestamp", "When it was used.", nullable=False),
    Index("ix_proxy_log_workspace_time", "workspace_id", "timestamp"),
)
"""One use of a proxy: where to, how it answered, how long it took."""

DOMAIN_PROFILE: Final = Table(
    "domain_profile",
    metadata,
    _id(),
    _workspace(),
    _str("domain", "A host name; its subdomains follow it unless they have their own.", nullable=False),
    _int("max_requests_per_hour", default=None),
    Column("requests_per_second", Float, nullable=True),
    _int("concurrency", default=None),
    Column("requires_login", Boolean, nullable=False, default=False),
    _str("captcha_likelihood", "low|medium|high, from blocks seen.", nullable=False, default="low"),
    Column("scroll_needed", Boolean, nullable=False, default=False),
    Column("idle_before_click", Float, nullable=False, default=0.0),
    _str("user_agent"),
    _json("config", "headers, and selectors: healed selectors and element fingerprints by field."),
    _ts("updated_at", "When it was last changed.", nullable=False),
    UniqueConstraint("workspace_id", "domain", name="uq_domain_profile_domain"),
)
"""How to behave on one domain: pace, headers, browser habits, healed selectors."""

CONTENT_CHECKSUM: Final = Table(
    "content_checksum",
    metadata,
    _id(),
    _str("workspace_key", "The workspace id, or '-' for local use (unique with checksum).", nullable=False),
    _str("checksum", nullable=False),
    _text("first_url", nullable=False),
    _str("first_job_id"),
    _int("seen_count", default=1),
    _ts("first_seen_at", "When it was first seen.", nullable=False),
    _ts("last_seen_at", "When it was last seen.", nullable=False),
    UniqueConstraint("workspace_key", "checksum", name="uq_content_checksum"),
)
"""Content seen before in a workspace, by checksum of its normalized text: deduplication."""

BROWSER_SESSION: Final = Table(
    "browser_session",
    metadata,
    _id(),
    _workspace(),
    _str("engine", "The capability driving it, e.g. 'browser-playwright/browser'.", nullable=False),
    _str("name", "Its name within its run (steps share it)."),
    _str("status", "open|closed|failed", nullable=False),
    _json("state", "Blob reference of the storage state (cookies, local storage); never returned."),
    _text("last_url"),
    _int("actions", "Actions run so far."),
    _str("execution_id", "The run, if any.", index=True),
    _str("created_by"),
    _ts("created_at", "When it was opened.", nullable=False),
    _ts("updated_at", "When it last ran an action.", nullable=False),
)
"""A browser session: cookies and storage kept between the steps of a run."""

BROWSER_ACTION: Final = Table(
    "browser_action",
    metadata,
    _id(),
    Column("session_id", String, ForeignKey("browser_session.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("seq", Integer, nullable=False, comment="1 for the session's first action."),
    _str(
        "kind",
        "goto|click|fill|select|press|scroll|wait|evaluate|screenshot|pdf|extract|download",
        nullable=False,
    ),
    _json("params", "The action as asked."),
    Column("ok", Boolean, nullable=False, default=True),
    _json("result", "What it returned; files (screenshots, PDFs, downloads) as blob references."),
    _text("error"),
    _text("url", "The page after the action."),
    _int("duration_ms"),
    _ts("created_at", "When it ran.", nullable=False),
    UniqueConstraint("session_id", "seq", name="uq_browser_action_seq"),
)
"""One action of a session, in order, with what it returned (screenshots as blob references)."""

CHANGE_DETECTION: Final = Table(
    "change_detection",
    metadata,
    _id(),
    _workspace(),
    _text("url", nullable=False),
    _str("selector", "Only this part of the page; NULL: all."),
    _str("engine", "The watch capability, e.g. 'watch/page'.", nullable=False),
    _json("filters", "Noise filters: ignore_selectors, ignore_numbers, ignore_whitespace, ignore_patterns."),
    _str("schedule", "Cron expression of the checks."),
    _str("workflow_id", "The scheduled workflow that checks it."),
    _json("on_change", "{workflow, signal}: the run started (or signal sent) when it changes."),
    _str("checksum", "Checksum of the last version; NULL before the first check."),
    _text("snapshot", "The last version, filtered."),
    _text("last_diff", "The last change, unified diff."),
    _int("checks"),
    _int("changes"),
    _str("status", "active|paused|failing", nullable=False, default="active"),
    _text("last_error"),
    _str("created_by"),
    _ts("created_at", "When the watch was made.", nullable=False),
    _ts("last_checked_at", "The last check."),
    _ts("last_changed_at", "The last check that found a change."),
)
"""A watched page (or part of one): its last version, and what changed last."""
