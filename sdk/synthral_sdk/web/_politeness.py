"""Politeness: robots.txt, per-domain pace and concurrency, retries with back-off, user agents."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Final
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk.errors import EgressDenied, RobotsDisallowed

__all__ = [
    "USER_AGENTS",
    "DomainGate",
    "DomainRules",
    "Politeness",
    "RobotsCache",
    "RobotsDisallowed",
    "UserAgents",
    "backoff_delay",
    "block_reason",
    "domain_of",
]

ROBOTS_AGENT: Final = "SynthralBot"
"""The product token robots.txt rules are matched against (besides ``*``)."""

USER_AGENTS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
)
_ROBOTS_TTL: Final = 3600.0
_BLOCK_MARKERS: Final = (
    ("captcha", "captcha"),
    ("cf-chl", "challenge page"),
    ("access denied", "access denied"),
    ("are you a robot", "bot check"),
)


class Politeness(BaseModel):
    """How a scraper treats the sites it visits (every scraping plugin's config carries one)."""

    model_config = ConfigDict(extra="forbid")

    respect_robots: bool = Field(
        default=True,
        description="Honour robots.txt. Switching it off is logged as a warning on every call that does.",
    )
    user_agent: str | None = Field(default=None, max_length=512, description="A fixed User-Agent; else one rotates.")
    rotate_user_agent: bool = Field(default=True, description="Rotate among common browser User-Agents.")
    requests_per_second: float = Field(default=5.0, gt=0, le=1000, description="Per domain.")
    concurrency_per_domain: int = Field(default=4, ge=1, le=64, description="Requests in flight per domain.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed request (5xx, 429, network).")
    backoff_s: float = Field(default=0.5, ge=0, le=60, description="First back-off; doubles each retry, with jitter.")
    timeout_s: float = Field(default=20.0, gt=0, le=300, description="Per request.")
    max_page_bytes: int = Field(default=5_000_000, ge=1024, le=200_000_000, description="Bytes read per page at most.")


class DomainRules(BaseModel):
    """A domain's behaviour profile as the host hands it to a call (the DomainProfile table)."""

    model_config = ConfigDict(extra="ignore")

    domain: str
    requests_per_second: float | None = Field(default=None, gt=0, le=1000)
    max_requests_per_hour: int | None = Field(default=None, ge=1)
    concurrency: int | None = Field(default=None, ge=1, le=64)
    user_agent: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    scroll_needed: bool = False
    idle_before_click: float = Field(default=0.0, ge=0, le=30)
    selectors: dict[str, JsonValue] = Field(
        default_factory=dict, description="Healed selectors and element fingerprints, by field."
    )

    def pace(self, politeness: Politeness) -> tuple[float, int]:
        """Requests per second and concurrency for this domain: the stricter of the profile and the call."""
        rps = politeness.requests_per_second
        if self.requests_per_second is not None:
            rps = min(rps, self.requests_per_second)
        if self.max_requests_per_hour is not None:
            rps = min(rps, self.max_requests_per_hour / 3600.0)
        return rps, min(politeness.concurrency_per_domain, self.concurrency or politeness.concurrency_per_domain)


def domain_of(url: str) -> str:
    """The host name of ``url``, lowercase, without a port."""
    return (urlsplit(url).hostname or "").lower()


def backoff_delay(attempt: int, base: float, retry_after: str | None = None, *, cap: float = 30.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential with full jitter around the doubling; a ``Retry-After`` in seconds wins,
    up to ``cap``.
    """
    if retry_after is not None and retry_after.strip().isdigit():
        return min(cap, float(retry_after.strip()))
    step = base * (2 ** (attempt - 1))
    return float(min(cap, step * (0.5 + random.random())))  # noqa: S311 -- jitter, not cryptography


def block_reason(status: int, sample: bytes = b"") -> str | None:
    """Why an answer looks like the site blocked us (rate limit, captcha, denial), or None."""
    if status == 429:
        return "rate limited (429)"
    text = sample[:4096].decode("utf-8", "replace").lower()
    if status in (403, 503):
        for marker, reason in _BLOCK_MARKERS:
            if marker in text:
                return reason
        return "forbidden (403)" if status == 403 else None
    if status == 200 and "captcha" in text and len(text) < 4000:
        return "captcha"
    return None


class UserAgents:
    """Rotates User-Agent strings: one per domain until that domain blocks us, then the next."""

    def __init__(self, agents: tuple[str, ...] = USER_AGENTS) -> None:
        self._agents = agents
        self._next = itertools.count()
        self._by_domain: dict[str, str] = {}

    def pick(self, domain: str, politeness: Politeness, rules: DomainRules | None = None) -> str:
        """The User-Agent for a request to ``domain``."""
        if rules is not None and rules.user_agent:
            return rules.user_agent
        if politeness.user_agent:
            return politeness.user_agent
        if not politeness.rotate_user_agent:
            return self._agents[0]
        agent = self._by_domain.get(domain)
        if agent is None:
            agent = self._by_domain[domain] = self._agents[next(self._next) % len(self._agents)]
        return agent

    def blocked(self, domain: str) -> None:
        """The domain blocked the current agent: use another next time."""
        self._by_domain.pop(domain, None)


@dataclass
class _Slot:
    semaphore: asyncio.Semaphore
    next_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DomainGate:
    """Per-domain pace (requests per second) and concurrency, shared by every call on one event loop."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DomainGate]] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], _Slot] = {}

    @classmethod
    def shared(cls) -> DomainGate:
        """The gate of the running loop (one per plugin process in practice)."""
        loop = asyncio.get_running_loop()
        gate = cls._by_loop.get(loop)
        if gate is None:
            gate = cls._by_loop[loop] = cls()
        return gate

    @asynccontextmanager
    async def slot(self, domain: str, requests_per_second: float, concurrency: int) -> AsyncIterator[None]:
        """Wait for a free slot and the domain's next turn, then hold the slot while the request runs."""
        slot = self._slots.get((domain, concurrency))
        if slot is None:
            slot = self._slots[(domain, concurrency)] = _Slot(asyncio.Semaphore(concurrency))
        async with slot.semaphore:
            async with slot.lock:
                now = time.monotonic()
                wait = slot.next_at - now
                slot.next_at = max(now, slot.next_at) + 1.0 / requests_per_second
            if wait > 0:
                await asyncio.sleep(wait)
            yield


RobotsFetch = Callable[[str], Awaitable[tuple[int, str]]]
"""Fetches a robots.txt URL; returns (status, text). Network failures raise."""


class RobotsCache:
    """robots.txt per origin, fetched once an hour, read as RFC 9309 says.

    4xx answers mean no rules (everything allowed); 5xx answers and unreachable servers mean
    everything is disallowed until the next fetch.
    """

    _texts: dict[str, tuple[float, RobotFileParser]] = {}  # noqa: RUF012 -- one cache per process, on purpose

    async def parser(self, url: str, fetch: RobotsFetch) -> RobotFileParser:
        """The parsed rules of ``url``'s origin."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._texts.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        parser = RobotFileParser()
        try:
            status, text = await fetch(f"{origin}/robots.txt")
        except EgressDenied:
            raise  # the network policy refuses the site itself: say so, not "robots.txt disallows"
        except Exception:  # noqa: BLE001 -- unreachable means disallow, per RFC 9309
            status, text = 503, ""
        if status >= 500:
            parser.parse(["User-agent: *", "Disallow: /"])
        elif status < 400:
            parser.parse(text.splitlines())
        else:
            parser.parse([])
        parser.modified()  # can_fetch answers only after a read or a parse with a time set
        self._texts[origin] = (time.monotonic() + _ROBOTS_TTL, parser)
        return parser

    async def check(self, url: str, user_agent: str, fetch: RobotsFetch) -> float | None:
        """Raise if robots.txt forbids ``url``; return its crawl delay in seconds, if it sets one.

        Raises:
            RobotsDisallowed: The rules disallow the URL for our agent.
        """
        parser = await self.parser(url, fetch)
        if not parser.can_fetch(ROBOTS_AGENT, url) or not parser.can_fetch(user_agent, url):
            raise RobotsDisallowed(
                f"robots.txt of {domain_of(url)} disallows {url} to crawlers; leave the URL out, or switch "
                "respect_robots off in the workflow's politeness settings if you have the site's permission",
                details={"url": url},
            )
        delay = parser.crawl_delay(ROBOTS_AGENT)
        return float(delay) if delay is not None else None

    @classmethod
    def forget(cls) -> None:
        """Drop every cached robots.txt (tests, or after a site changed its rules)."""
        cls._texts.clear()
