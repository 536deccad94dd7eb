"""Tables of the web: scrape jobs and their pages, proxies, domain profiles, checksums, browsers, page watches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from synthral.store.models import _json, _ts, new_id

__all__ = [
    "BrowserAction",
    "BrowserSession",
    "ChangeDetection",
    "ContentChecksum",
    "DomainProfile",
    "ProxyLog",
    "ScrapeJob",
    "ScrapePage",
]


def _workspace() -> Any:
    return Field(
        default=None, foreign_key="workspace.id", index=True, ondelete="CASCADE",
        sa_column_kwargs={"comment": "The workspace it belongs to; NULL for local use."},
    )  # fmt: skip


class ScrapeJob(SQLModel, table=True):
    """A scrape of one page or a crawl of many: what was asked, how far it came, how it ended."""

    __tablename__ = "scrape_job"
    __table_args__ = (UniqueConstraint("key", name="uq_scrape_job_key"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = _workspace()
    key: str | None = Field(
        default=None, sa_column_kwargs={"comment": "Idempotency key (execution/node/iteration); a rerun finds its job."}
    )
    kind: str = Field(sa_column_kwargs={"comment": "scrape|crawl"})
    engine: str = Field(sa_column_kwargs={"comment": "The capability that fetches, e.g. 'scrape-html/fetch_pages'."})
    url: str = Field(sa_column=Column(Text, nullable=False, comment="The page, or the crawl's first seed."))
    request: dict[str, Any] | None = _json("What was asked: seeds, rules, budgets, politeness, config.")
    status: str = Field(
        sa_column_kwargs={"comment": "queued|running|completed|budget_exhausted|failed|cancelled"}, index=True
    )
    max_pages: int | None = Field(default=None, sa_column_kwargs={"comment": "Pages the crawl may store at most."})
    max_bytes: int | None = Field(default=None, sa_column_kwargs={"comment": "Bytes the crawl may read at most."})
    pages_stored: int = Field(default=0, sa_column_kwargs={"comment": "Pages fetched and kept."})
    pages_failed: int = Field(default=0, sa_column_kwargs={"comment": "Pages that could not be fetched."})
    bytes_stored: int = Field(default=0, sa_column_kwargs={"comment": "Bytes read by the pages kept and failed."})
    result: dict[str, Any] | None = _json("A scrape's output, or a crawl's summary.")
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True, comment="Why it failed."))
    execution_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The run it belongs to, if any."})
    created_by: str | None = Field(default=None, sa_column_kwargs={"comment": "Who asked (API); NULL from a run."})
    created_at: datetime | None = _ts("When it was asked for.", nullable=False)
    started_at: datetime | None = _ts("When work began.")
    finished_at: datetime | None = _ts("When it ended; NULL while it runs.")


class ScrapePage(SQLModel, table=True):
    """One URL of a crawl: its place in the frontier and, once stored, what came back."""

    __tablename__ = "scrape_page"
    __table_args__ = (
        UniqueConstraint("job_id", "url_hash", name="uq_scrape_page_url"),
        Index("ix_scrape_page_frontier", "job_id", "status", "depth"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    job_id: str = Field(foreign_key="scrape_job.id", ondelete="CASCADE")
    url: str = Field(sa_column=Column(Text, nullable=False))
    url_hash: str = Field(sa_column_kwargs={"comment": "SHA-256 of the URL: unique per job, so a URL is queued once."})
    depth: int = Field(default=0, sa_column_kwargs={"comment": "Links followed from a seed."})
    status: str = Field(
        sa_column_kwargs={
            "comment": "pending|fetching|stored|failed|skipped. fetching rows of a dead run go back to pending."
        }
    )
    http_status: int | None = None
    final_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    title: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    checksum: str | None = Field(default=None, sa_column_kwargs={"comment": "Content checksum of the visible text."})
    duplicate: bool = Field(
        default=False, sa_column_kwargs={"comment": "Its checksum was seen before in the workspace."}
    )
    bytes: int = 0
    content: dict[str, Any] | None = _json("Blob reference of the page's text/markdown/fields (JSON).")
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fetched_at: datetime | None = _ts("When it was stored or failed.")


class ProxyLog(SQLModel, table=True):
    """One use of a proxy: where to, how it answered, how long it took."""

    __tablename__ = "proxy_log"
    __table_args__ = (Index("ix_proxy_log_workspace_time", "workspace_id", "timestamp"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The workspace whose call it was."})
    ip_id: str = Field(index=True, sa_column_kwargs={"comment": "The proxy's stable id (hash of scheme://host:port)."})
    proxy: str = Field(sa_column_kwargs={"comment": "scheme://host:port, never credentials."})
    agent_id: str | None = Field(default=None, sa_column_kwargs={"comment": "The job or browser session using it."})
    domain_scraped: str
    status_code: int = Field(sa_column_kwargs={"comment": "The answer's status; 0 when none came."})
    ok: bool = True
    retry_count: int = 0
    block_reason: str | None = None
    latency_ms: int = 0
    timestamp: datetime | None = _ts("When it was used.", nullable=False)


class DomainProfile(SQLModel, table=True):
    """How to behave on one domain: pace, headers, browser habits, healed selectors."""

    __tablename__ = "domain_profile"
    __table_args__ = (UniqueConstraint("workspace_id", "domain", name="uq_domain_profile_domain"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = _workspace()
    domain: str = Field(
        sa_column_kwargs={"comment": "A host name; its subdomains follow it unless they have their own."}
    )
    max_requests_per_hour: int | None = None
    requests_per_second: float | None = None
    concurrency: int | None = None
    requires_login: bool = False
    captcha_likelihood: str = Field(default="low", sa_column_kwargs={"comment": "low|medium|high, from blocks seen."})
    scroll_needed: bool = False
    idle_before_click: float = 0.0
    user_agent: str | None = None
    config: dict[str, Any] | None = _json("headers, and selectors: healed selectors and element fingerprints by field.")
    updated_at: datetime | None = _ts("When it was last changed.", nullable=False)


class ContentChecksum(SQLModel, table=True):
    """Content seen before in a workspace, by checksum of its normalized text: deduplication."""

    __tablename__ = "content_checksum"
    __table_args__ = (UniqueConstraint("workspace_key", "checksum", name="uq_content_checksum"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_key: str = Field(
        sa_column_kwargs={"comment": "The workspace id, or '-' for local use (unique with checksum)."}
    )
    checksum: str
    first_url: str = Field(sa_column=Column(Text, nullable=False))
    first_job_id: str | None = None
    seen_count: int = 1
    first_seen_at: datetime | None = _ts("When it was first seen.", nullable=False)
    last_seen_at: datetime | None = _ts("When it was last seen.", nullable=False)


class BrowserSession(SQLModel, table=True):
    """A browser session: cookies and storage kept between the steps of a run."""

    __tablename__ = "browser_session"

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = _workspace()
    engine: str = Field(sa_column_kwargs={"comment": "The capability driving it, e.g. 'browser-playwright/browser'."})
    name: str | None = Field(default=None, sa_column_kwargs={"comment": "Its name within its run (steps share it)."})
    status: str = Field(sa_column_kwargs={"comment": "open|closed|failed"})
    state: dict[str, Any] | None = _json(
        "Blob reference of the storage state (cookies, local storage); never returned."
    )
    last_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actions: int = Field(default=0, sa_column_kwargs={"comment": "Actions run so far."})
    execution_id: str | None = Field(default=None, index=True, sa_column_kwargs={"comment": "The run, if any."})
    created_by: str | None = None
    created_at: datetime | None = _ts("When it was opened.", nullable=False)
    updated_at: datetime | None = _ts("When it last ran an action.", nullable=False)


class BrowserAction(SQLModel, table=True):
    """One action of a session, in order, with what it returned (screenshots as blob references)."""

    __tablename__ = "browser_action"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_browser_action_seq"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    session_id: str = Field(foreign_key="browser_session.id", index=True, ondelete="CASCADE")
    seq: int = Field(sa_column_kwargs={"comment": "1 for the session's first action."})
    kind: str = Field(
        sa_column_kwargs={
            "comment": "goto|click|fill|select|press|scroll|wait|evaluate|screenshot|pdf|extract|download"
        }
    )
    params: dict[str, Any] | None = _json("The action as asked.")
    ok: bool = True
    result: dict[str, Any] | None = _json("What it returned; files (screenshots, PDFs, downloads) as blob references.")
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True, comment="The page after the action."))
    duration_ms: int = 0
    created_at: datetime | None = _ts("When it ran.", nullable=False)


class ChangeDetection(SQLModel, table=True):
    """A watched page (or part of one): its last version, and what changed last."""

    __tablename__ = "change_detection"

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str | None = _workspace()
    url: str = Field(sa_column=Column(Text, nullable=False))
    selector: str | None = Field(default=None, sa_column_kwargs={"comment": "Only this part of the page; NULL: all."})
    engine: str = Field(sa_column_kwargs={"comment": "The watch capability, e.g. 'watch/page'."})
    filters: dict[str, Any] | None = _json(
        "Noise filters: ignore_selectors, ignore_numbers, ignore_whitespace, ignore_patterns."
    )
    schedule: str | None = Field(default=None, sa_column_kwargs={"comment": "Cron expression of the checks."})
    workflow_id: str | None = Field(
        default=None, sa_column_kwargs={"comment": "The scheduled workflow that checks it."}
    )
    on_change: dict[str, Any] | None = _json("{workflow, signal}: the run started (or signal sent) when it changes.")
    checksum: str | None = Field(
        default=None, sa_column_kwargs={"comment": "Checksum of the last version; NULL before the first check."}
    )
    snapshot: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True, comment="The last version, filtered.")
    )
    last_diff: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True, comment="The last change, unified diff.")
    )
    checks: int = 0
    changes: int = 0
    status: str = Field(default="active", sa_column_kwargs={"comment": "active|paused|failing"})
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str | None = None
    created_at: datetime | None = _ts("When the watch was made.", nullable=False)
    last_checked_at: datetime | None = _ts("The last check.")
    last_changed_at: datetime | None = _ts("The last check that found a change.")
