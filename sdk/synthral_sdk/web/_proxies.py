"""A rotating pool of HTTP and SOCKS proxies: health, per-domain stickiness, a log of every use."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from synthral_sdk.errors import ConfigurationError, NoHealthyProxy

__all__ = ["NoHealthyProxy", "Proxy", "ProxyEvent", "ProxyPool", "parse_proxy_list"]

_SCHEMES: Final = frozenset({"http", "https", "socks5", "socks5h"})
_SEPARATORS: Final = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Proxy:
    """One proxy. ``url`` carries its credentials; ``label`` and ``id`` never do."""

    url: str
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def label(self) -> str:
        """``scheme://host:port``: safe to log."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def id(self) -> str:
        """A stable id for logs (ProxyLog.ip_id): a hash of the label."""
        return hashlib.sha256(self.label.encode()).hexdigest()[:16]


def _parse_one(entry: str, index: int) -> Proxy:
    parts = urlsplit(entry if "://" in entry else f"http://{entry}")
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES or not parts.hostname:
        raise ConfigurationError(
            f"proxy #{index + 1} in the proxy credential is not a proxy URL; write one per line as "
            "http://user:pass@host:port, https://host:port or socks5://user:pass@host:port",
            details={"index": index},
        )
    try:
        port = parts.port or (1080 if scheme.startswith("socks") else 8080)
    except ValueError:
        raise ConfigurationError(
            f"proxy #{index + 1} in the proxy credential has a port that is not a number 1-65535",
            details={"index": index},
        ) from None
    return Proxy(entry, scheme, parts.hostname.lower(), port, parts.username, parts.password)


def parse_proxy_list(text: str) -> list[Proxy]:
    """Proxies from a credential's text: URLs separated by new lines, spaces or commas.

    Raises:
        ConfigurationError: An entry is not an http(s) or socks5 proxy URL (named by position,
            never by content: it may hold a password).
    """
    entries = [entry for entry in _SEPARATORS.split(text.strip()) if entry]
    return [_parse_one(entry, index) for index, entry in enumerate(entries)]


class ProxyEvent(BaseModel):
    """One use of a proxy, for the ProxyLog table."""

    proxy_id: str
    proxy: str = Field(description="scheme://host:port, without credentials.")
    domain: str
    status_code: int = Field(description="The answer's status; 0 when no answer came.")
    ok: bool
    retry_count: int = 0
    block_reason: str | None = None
    latency_ms: int = 0
    at: datetime


@dataclass
class _Health:
    failures: int = 0
    resting_until: float = 0.0
    uses: int = 0


class ProxyPool:
    """Rotates requests over proxies, sticks a domain to the proxy that works for it, rests failing ones.

    One pool per set of proxies lives as long as the plugin process (:meth:`shared`), so what
    one call learns about a proxy's health the next call knows.

    Args:
        proxies: The proxies.
        max_failures: Consecutive failures after which a proxy rests.
        rest_s: How long a failing proxy rests before it is tried again.
        sticky: Keep using the same proxy for a domain while it works.
    """

    _pools: ClassVar[dict[str, ProxyPool]] = {}
    _pools_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, proxies: Iterable[Proxy], *, max_failures: int = 3, rest_s: float = 60.0, sticky: bool = True
    ) -> None:
        self.proxies = list(proxies)
        self.max_failures = max_failures
        self.rest_s = rest_s
        self.sticky = sticky
        self._health = {proxy.id: _Health() for proxy in self.proxies}
        self._by_domain: dict[str, Proxy] = {}
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.events: list[ProxyEvent] = []

    @classmethod
    def shared(cls, text: str, **options: float | bool | int) -> ProxyPool:
        """The process's pool for the proxies listed in ``text`` (a credential's value)."""
        key = hashlib.sha256(text.strip().encode()).hexdigest()
        with cls._pools_lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = cls(parse_proxy_list(text), **options)  # type: ignore[arg-type]
            return pool

    def healthy(self, proxy: Proxy) -> bool:
        """Whether ``proxy`` is not resting."""
        return self._health[proxy.id].resting_until <= time.monotonic()

    def choose(self, domain: str) -> Proxy:
        """The proxy for the next request to ``domain``.

        Raises:
            NoHealthyProxy: Every proxy is resting.
        """
        with self._lock:
            current = self._by_domain.get(domain)
            if current is not None and self.sticky and self.healthy(current):
                return current
            for _ in range(len(self.proxies)):
                proxy = self.proxies[next(self._turn) % len(self.proxies)]
                if self.healthy(proxy):
                    self._by_domain[domain] = proxy
                    return proxy
        soonest = min(self._health[p.id].resting_until for p in self.proxies) - time.monotonic()
        raise NoHealthyProxy(
            f"all {len(self.proxies)} proxies are resting after failures; "
            f"the first is back in {max(0, soonest):.0f} s. Retry later, or add proxies to the proxy credential",
            details={"proxies": len(self.proxies), "retry_after": max(1, round(soonest))},
        )

    def report(
        self,
        proxy: Proxy,
        domain: str,
        *,
        status_code: int,
        ok: bool,
        latency_ms: int,
        retry_count: int = 0,
        block_reason: str | None = None,
    ) -> ProxyEvent:
        """Record one use; a failure counts towards resting the proxy and unsticks the domain."""
        event = ProxyEvent(
            proxy_id=proxy.id,
            proxy=proxy.label,
            domain=domain,
            status_code=status_code,
            ok=ok,
            retry_count=retry_count,
            block_reason=block_reason,
            latency_ms=latency_ms,
            at=datetime.now(UTC),
        )
        with self._lock:
            health = self._health[proxy.id]
            health.uses += 1
            if ok:
                health.failures = 0
            else:
                health.failures += 1
                if self._by_domain.get(domain) == proxy:
                    del self._by_domain[domain]
                if health.failures >= self.max_failures:
                    health.resting_until = time.monotonic() + self.rest_s
            self.events.append(event)
        return event

    def drain(self) -> list[ProxyEvent]:
        """The events recorded since the last drain (a call returns them for the ProxyLog)."""
        with self._lock:
            events, self.events = self.events, []
        return events

    async def check_health(self, probe: Callable[[Proxy], Awaitable[bool]]) -> dict[str, bool]:
        """Probe every proxy (say, fetch a known page through it); rest the ones that fail.

        Returns:
            Proxy label → whether it answered.
        """
        results: dict[str, bool] = {}
        for proxy in self.proxies:
            try:
                ok = await probe(proxy)
            except Exception:  # noqa: BLE001 -- any failure of the probe is a failed check
                ok = False
            results[proxy.label] = ok
            with self._lock:
                health = self._health[proxy.id]
                if ok:
                    health.failures, health.resting_until = 0, 0.0
                else:
                    health.failures = self.max_failures
                    health.resting_until = time.monotonic() + self.rest_s
        return results
