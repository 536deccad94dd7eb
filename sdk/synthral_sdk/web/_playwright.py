"""One Chromium per plugin process, driven by Playwright, every request through the egress proxy.

For plugins that depend on ``playwright`` (the SDK does not): the browser is started from the
system's binary on first use, shared by the calls of the process, restarted after it
crashed or was killed. Each call gets its own browser context whose proxy is a fresh
:class:`EgressProxy` holding that call's network policy. A watchdog kills the browser when
its processes together pass the memory limit; an operation that passes its time limit kills
it too. Either way the call fails with a retryable error and the next call starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from synthral_sdk.errors import BrowserKilled
from synthral_sdk.web._browser import (
    CHROMIUM_FLAGS,
    BrowserLimits,
    browser_processes,
    chromium_path,
    kill_browsers,
    tree_rss_mb,
)
from synthral_sdk.web._egress_proxy import EgressProxy
from synthral_sdk.web._fetch import AddressPolicy
from synthral_sdk.web._proxies import Proxy

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright

__all__ = ["ManagedBrowser"]

T = TypeVar("T")


class ManagedBrowser:
    """The plugin process's Chromium.

    Args:
        limits: Memory of the browser's processes and seconds per operation.
    """

    def __init__(self, limits: BrowserLimits | None = None) -> None:
        self.limits = limits or BrowserLimits()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self.killed: str | None = None
        self.launches = 0

    async def browser(self) -> Browser:
        """The running browser, started (again) if needed."""
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            from playwright.async_api import async_playwright  # noqa: PLC0415 -- only plugins with playwright call this

            if self._playwright is None:
                self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(
                executable_path=chromium_path(), args=list(CHROMIUM_FLAGS), headless=True
            )
            self.launches += 1
            self.killed = None
            if self._watchdog is None or self._watchdog.done():
                self._watchdog = asyncio.get_running_loop().create_task(self._watch())
            return self._browser

    async def _watch(self) -> None:
        while self._browser is not None:
            pids = browser_processes()
            used = tree_rss_mb(pids)
            if used > self.limits.memory_mb:
                self.killed = f"its processes used {used:.0f} MiB, over the {self.limits.memory_mb} MiB limit"
                kill_browsers()
            await asyncio.sleep(0.25)

    def kill(self, reason: str) -> None:
        """Kill the browser's processes now (a hung page, a runaway script)."""
        self.killed = reason
        kill_browsers()

    async def guarded(self, operation: Awaitable[T], what: str, timeout: float | None = None) -> T:
        """Await a browser operation within the time limit; kill the browser if it hangs.

        Raises:
            BrowserKilled: The operation hung past its limit, or the watchdog killed the browser.
        """
        limit = timeout or self.limits.operation_s
        try:
            return await asyncio.wait_for(operation, limit)
        except TimeoutError:
            self.kill(f"{what} hung for more than {limit:g} s")
            raise BrowserKilled(
                f"the browser hung on {what} for more than {limit:g} s and was killed; the next call starts a "
                "new one (raise the operation's timeout if the page is just slow)",
                details={"limit_s": limit},
            ) from None
        except Exception as exc:
            if self.killed is not None:
                raise BrowserKilled(
                    f"the browser was killed during {what}: {self.killed}; the next call starts a new one",
                    details={"reason": self.killed},
                ) from exc
            raise

    @asynccontextmanager
    async def context(
        self,
        *,
        network: AddressPolicy | None,
        upstream: Callable[[str], Proxy | None] | None = None,
        **options: Any,
    ) -> AsyncIterator[tuple[BrowserContext, EgressProxy]]:
        """A fresh browser context whose every request goes through an egress proxy for this call.

        Args:
            network: The call's network policy.
            upstream: Chooses the upstream proxy for a host (a proxy pool), or None.
            **options: What ``Browser.new_context`` takes (``storage_state``, ``user_agent``...).
        """
        browser = await self.browser()
        async with EgressProxy(network, upstream) as egress:
            context = await self.guarded(
                browser.new_context(proxy={"server": egress.url, "bypass": "<-loopback>"}, **options), "opening a page"
            )
            try:
                yield context, egress
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(context.close(), 10)

    async def close(self) -> None:
        """Close the browser and Playwright."""
        browser, self._browser = self._browser, None
        if self._watchdog is not None:
            self._watchdog.cancel()
        if browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 10)
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None
