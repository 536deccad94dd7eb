"""The ``jobs`` node: python-jobspy's boards, every request through the egress proxy."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from datetime import date, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from synthral_sdk import Context, Node
from synthral_sdk.errors import InputInvalid, RetryableError
from synthral_sdk.web import EgressProxy, Politeness, ProxyPool, UserAgents, network_of

__all__ = ["Jobs"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
SITES: Final = ("linkedin", "indeed", "glassdoor", "zip_recruiter", "google", "bayt", "naukri", "bdjobs", "hellowork")
_BOARD_CLASSES: Final = {"linkedin": ("jobspy.linkedin", "LinkedIn"), "indeed": ("jobspy.indeed", "Indeed")}
_OVERRIDE_LOCK: Final = threading.Lock()  # base URLs are class attributes: one override at a time
for _name in ("JobSpy", "jobspy"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class JobsConfig(BaseModel):
    """Politeness, and mirrors of the boards' pages."""

    model_config = ConfigDict(extra="forbid")

    politeness: Politeness = Field(default_factory=Politeness)
    base_urls: dict[str, str] = Field(
        default_factory=dict, description="Board → the root of a mirror of its pages (linkedin, indeed)."
    )

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for board, url in value.items():
            if board not in _BOARD_CLASSES:
                raise ValueError(
                    f"base_urls: {board!r} cannot be pointed elsewhere; only {', '.join(_BOARD_CLASSES)} can"
                )
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base_urls.{board}: {url[:100]!r} is not an http(s) URL")
        return value


class JobsInput(BaseModel):
    """What to search for, where."""

    model_config = ConfigDict(extra="forbid")

    sites: list[Literal[SITES]] = Field(default_factory=lambda: ["linkedin"], min_length=1)  # type: ignore[valid-type]
    search_term: str = Field(min_length=1, max_length=500)
    location: str | None = None
    results_wanted: int = Field(default=15, ge=1, le=500)
    hours_old: int | None = Field(default=None, ge=1)
    is_remote: bool = False
    job_type: Literal["fulltime", "parttime", "internship", "contract"] | None = None
    country_indeed: str = "usa"
    fetch_description: bool = False


class JobsOutput(BaseModel):
    """The postings found."""

    jobs: list[dict[str, JsonValue]]
    count: int
    refused: list[str] = Field(default_factory=list)


def _plain(value: Any) -> JsonValue:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _search(inputs: JobsInput, config: JobsConfig, proxy_url: str, user_agent: str) -> list[dict[str, JsonValue]]:
    import importlib  # noqa: PLC0415

    from jobspy import scrape_jobs  # noqa: PLC0415 -- pandas is slow to import; only calls pay

    with _OVERRIDE_LOCK:
        saved: dict[str, str] = {}
        for board, url in config.base_urls.items():
            module, name = _BOARD_CLASSES[board]
            cls = getattr(importlib.import_module(module), name)
            saved[board] = cls.base_url
            cls.base_url = url.rstrip("/")
        try:
            frame = scrape_jobs(
                site_name=list(inputs.sites),
                search_term=inputs.search_term,
                location=inputs.location,
                results_wanted=inputs.results_wanted,
                hours_old=inputs.hours_old,
                is_remote=inputs.is_remote,
                job_type=inputs.job_type,
                country_indeed=inputs.country_indeed,
                fetch_description=inputs.fetch_description,
                proxies=[proxy_url],
                user_agent=user_agent,
                verbose=0,
            )
        finally:
            for board, url in saved.items():
                module, name = _BOARD_CLASSES[board]
                getattr(importlib.import_module(module), name).base_url = url
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


class Jobs(Node[JobsInput, JobsOutput, JobsConfig]):
    """Search job boards with python-jobspy; postings come back as records, streamed as they are read."""

    name = "jobs"
    title = "Job boards"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: JobsInput, config: JobsConfig, context: Context) -> JobsOutput:
        """Search through the egress proxy."""
        pool = ProxyPool.shared(context.secrets[PROXY_SECRET]) if context.secrets.get(PROXY_SECRET) else None
        agent = UserAgents().pick("jobs", config.politeness)
        async with EgressProxy(network_of(context), pool.choose if pool else None) as egress:
            try:
                jobs = await asyncio.to_thread(_search, inputs, config, egress.url, agent)
            except ValueError as exc:
                raise InputInvalid(f"jobspy refused the search: {exc}") from None
            except Exception as exc:  # noqa: BLE001 -- a board's failure (network, blocked) is retryable
                raise RetryableError(f"the job boards could not be searched: {type(exc).__name__}: {exc}") from None
            refused = [f"{r.host}:{r.port}: {r.reason}" for r in egress.refusals]
        for job in jobs:
            context.emit("scrape.item", job)
        return JobsOutput(jobs=jobs, count=len(jobs), refused=refused)
