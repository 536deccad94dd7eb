"""One polite fetch: robots.txt, the domain's pace, a proxy from the pool, retries, a byte cap, redirects checked."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from synthral_sdk._egress import egress_proxy, precheck
from synthral_sdk.errors import ConfigurationError, InputInvalid, RetryableError
from synthral_sdk.http import _web_transport
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.web._politeness import (
    DomainGate,
    DomainRules,
    Politeness,
    RobotsCache,
    UserAgents,
    backoff_delay,
    block_reason,
    domain_of,
)
from synthral_sdk.web._proxies import Proxy, ProxyPool

__all__ = ["AddressPolicy", "Fetched", "Fetcher"]

_RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_REDIRECTS: Final = 10
_CHARSET: Final = re.compile(rb"""<meta[^>]+charset=["']?([a-zA-Z0-9_-]+)""", re.IGNORECASE)
_ROBOTS_BYTES: Final = 512_000


class AddressPolicy(Protocol):
    """Where requests may go: the call's network policy (``context.network``) satisfies this."""

    def permitted(self, host: str, addresses: Sequence[str]) -> list[str]:
        """The addresses ``host`` resolved to that may be reached; raises when none may."""
        ...


@dataclass
class Fetched:
    """A fetched page: what was asked, where it ended, what came back."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    content: bytes
    truncated: bool = False
    elapsed_ms: int = 0
    attempts: int = 1
    proxy: str | None = None
    redirects: list[str] = field(default_factory=list)

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lowercase."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body as text: the header's charset, else a ``<meta charset>``, else UTF-8."""
        charset = None
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip('"')
        if charset is None:
            found = _CHARSET.search(self.content[:2048])
            charset = found.group(1).decode() if found else "utf-8"
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")


async def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=0)
    except OSError as exc:
        raise RetryableError(f"could not resolve {host}: {exc}", details={"host": host}) from None
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0], None)
    return list(seen)


class Fetcher:
    """Fetches pages politely; one per call, used as an async context manager.

    Args:
        politeness: Robots, pace, retries, timeouts, byte cap.
        network: The call's network policy; every hop (redirects included) and every proxy
            is checked against it before a connection is made.
        proxies: A pool to send requests through; direct when ``None``.
        profiles: Domain profiles by domain (pace, headers, User-Agent).
        log: Where warnings go (the call's log).
    """

    def __init__(
        self,
        politeness: Politeness,
        *,
        network: AddressPolicy | None = None,
        proxies: ProxyPool | None = None,
        profiles: Mapping[str, DomainRules] | None = None,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        user_agents: UserAgents | None = None,
    ) -> None:
        self.politeness = politeness
        self.network = network
        self.proxies = proxies
        self.profiles = dict(profiles or {})
        self.log = log or logging.getLogger("synthral.web")
        self.user_agents = user_agents or UserAgents()
        self.robots = RobotsCache()
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        if not politeness.respect_robots:
            self.log.warning("robots.txt is not honoured for this call: the workflow switched respect_robots off")

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools."""
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)

    def _client(self, proxy: Proxy | None) -> httpx.AsyncClient:
        key = None if proxy is None else proxy.url
        client = self._clients.get(key)
        if client is None:
            timeout = httpx.Timeout(self.politeness.timeout_s)
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=64)
            if egress_proxy() is not None:  # the OS sandbox: out through the host's egress proxy only
                transport = _web_transport(self._wire_policy(), proxy=key, limits=limits)
                client = httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
                )
            else:
                client = httpx.AsyncClient(
                    timeout=timeout, limits=limits, follow_redirects=False, trust_env=False, proxy=key
                )
            self._clients[key] = client
        return client

    def _wire_policy(self) -> NetworkPolicy:
        """The policy the sandbox's egress proxy is told; without one, the plugin's own policy alone holds there."""
        if isinstance(self.network, NetworkPolicy):
            return self.network
        return NetworkPolicy(allow_loopback=True, allow=("0.0.0.0/0", "::/0"))

    async def check(self, url: str) -> None:
        """Raise unless the network policy lets a request reach ``url``'s host.

        In the OS sandbox, where names do not resolve, only the host's grant and an address
        given as such are judged here; the host's egress proxy judges the rest.

        Raises:
            EgressDenied: The host is (or resolves to) an address the policy refuses.
        """
        if self.network is None:
            return
        parts = urlsplit(url)
        await self._check(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))

    async def _check_proxy(self, proxy: Proxy) -> None:
        if self.network is not None:
            await self._check(proxy.host, proxy.port)

    async def _check(self, host: str, port: int) -> None:
        assert self.network is not None
        if isinstance(self.network, NetworkPolicy):
            if egress_proxy() is not None:
                precheck(self.network, host, port)
                return
            self.network.permitted(host, await _resolve(host, port), port=port)
        elif egress_proxy() is None:
            self.network.permitted(host, await _resolve(host, port))

    def rules(self, domain: str) -> DomainRules | None:
        """The profile of ``domain`` or of its parent domain, if the host gave one."""
        parts = domain.split(".")
        for index in range(len(parts) - 1):
            found = self.profiles.get(".".join(parts[index:]))
            if found is not None:
                return found
        return None

    async def _robots_text(self, robots_url: str) -> tuple[int, str]:
        proxy = self.proxies.choose(domain_of(robots_url)) if self.proxies else None
        page = await self._send(
            robots_url, proxy, {"user-agent": self.user_agents.pick("", self.politeness)}, _ROBOTS_BYTES
        )
        return page.status, page.text()

    async def _send(self, url: str, proxy: Proxy | None, headers: Mapping[str, str], max_bytes: int) -> Fetched:
        started = time.monotonic()
        current = url
        hops: list[str] = []
        if proxy is not None:
            await self._check_proxy(proxy)
        for _ in range(_MAX_REDIRECTS + 1):
            await self.check(current)
            async with self._client(proxy).stream("GET", current, headers=dict(headers)) as response:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    hops.append(current)
                    current = urljoin(current, location)
                    if urlsplit(current).scheme not in ("http", "https"):
                        raise InputInvalid(f"{hops[-1]} redirects to {current}, which is not an http(s) URL")
                    continue
                body = bytearray()
                truncated = False
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        del body[max_bytes:]
                        truncated = True
                        break
                return Fetched(
                    url=url,
                    final_url=current,
                    status=response.status_code,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    content=bytes(body),
                    truncated=truncated,
                    elapsed_ms=int((time.monotonic() - started) * 1000),
                    proxy=None if proxy is None else proxy.label,
                    redirects=hops,
                )
        raise InputInvalid(f"{url} redirected more than {_MAX_REDIRECTS} times", details={"url": url})

    async def fetch(
        self, url: str, *, headers: Mapping[str, str] | None = None, max_bytes: int | None = None
    ) -> Fetched:
        """Fetch ``url`` politely; 4xx answers come back as they are, for the caller to judge.

        Raises:
            InputInvalid: ``url`` is not an absolute http(s) URL.
            RobotsDisallowed: robots.txt forbids it (and the call honours robots).
            EgressDenied: The network policy refuses the host, a redirect's host or the proxy.
            NoHealthyProxy: Every proxy of the pool is resting.
            RetryableError: Still failing (network, 5xx, 429) after the retries.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputInvalid(
                f"{url[:200]!r} is not an absolute http(s) URL; write it as https://host/path", details={"url": url}
            )
        politeness = self.politeness
        domain = domain_of(url)
        rules = self.rules(domain)
        rps, concurrency = (
            rules.pace(politeness) if rules else (politeness.requests_per_second, politeness.concurrency_per_domain)
        )
        agent = self.user_agents.pick(domain, politeness, rules)
        if politeness.respect_robots:
            delay = await self.robots.check(url, agent, self._robots_text)
            if delay:
                rps = min(rps, 1.0 / delay)
        cap = max_bytes or politeness.max_page_bytes
        gate = DomainGate.shared()
        failure = ""
        for attempt in range(politeness.retries + 1):
            request_headers = {"user-agent": agent, "accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
            if rules is not None:
                request_headers |= {k.lower(): v for k, v in rules.headers.items()}
            request_headers |= {k.lower(): v for k, v in (headers or {}).items()}
            proxy = self.proxies.choose(domain) if self.proxies else None
            async with gate.slot(domain, rps, concurrency):
                started = time.monotonic()
                try:
                    page = await self._send(url, proxy, request_headers, cap)
                except (httpx.TransportError, RetryableError) as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                    if proxy is not None and self.proxies is not None:
                        self.proxies.report(
                            proxy, domain, status_code=0, ok=False, retry_count=attempt,
                            latency_ms=int((time.monotonic() - started) * 1000), block_reason="no answer",
                        )  # fmt: skip
                    page = None
            if page is not None:
                page.attempts = attempt + 1
                blocked = block_reason(page.status, page.content[:4096])
                ok = page.status not in _RETRY_STATUSES and blocked is None
                if proxy is not None and self.proxies is not None:
                    self.proxies.report(
                        proxy, domain, status_code=page.status, ok=ok, retry_count=attempt,
                        latency_ms=page.elapsed_ms, block_reason=blocked,
                    )  # fmt: skip
                if ok or attempt == politeness.retries:
                    return page
                if blocked is not None:
                    self.user_agents.blocked(domain)
                    agent = self.user_agents.pick(domain, politeness, rules)
                failure = f"status {page.status}" + (f" ({blocked})" if blocked else "")
                wait = backoff_delay(attempt + 1, politeness.backoff_s, page.headers.get("retry-after"))
            else:
                wait = backoff_delay(attempt + 1, politeness.backoff_s)
            if attempt < politeness.retries:
                await asyncio.sleep(wait)
        raise RetryableError(
            f"{url} could not be fetched in {politeness.retries + 1} attempts (last: {failure}); "
            "the site may be down or blocking: retry later, slow down, or use proxies",
            details={"url": url, "attempts": politeness.retries + 1},
        )


def require_http_url(url: str, field_name: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL.

    Raises:
        ConfigurationError: It is not; the message names the field.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{field_name} {url[:200]!r} must be an absolute http(s) URL, like https://example.com/"
        )
    return url
