"""Chromium for plugins: the system's binary, quiet flags, and a watchdog that kills a browser at its limits.

Browsers come from the operating system (Debian's ``chromium``), never from a download at
run time. ``SYNTHRAL_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from synthral_sdk.errors import ConfigurationError, RetryableError

__all__ = [
    "CHROMIUM_FLAGS",
    "BrowserLimits",
    "ChromiumProcess",
    "browser_processes",
    "chromium_path",
    "kill_browsers",
    "tree_rss_mb",
]

CHROMIUM_FLAGS: Final = (
    "--no-sandbox",  # plugin processes may run as root, where Chromium's own sandbox refuses to start
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
"""Flags every plugin starts Chromium with: no calls home, no WebRTC around the proxy."""

_CANDIDATES: Final = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")


def chromium_path() -> str:
    """The Chromium binary to start.

    Raises:
        ConfigurationError: None is installed; the message says how to install it.
    """
    named = os.environ.get("SYNTHRAL_CHROMIUM")
    if named:
        if Path(named).is_file():
            return named
        raise ConfigurationError(f"SYNTHRAL_CHROMIUM={named!r} is not a file; point it at a Chromium binary")
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise ConfigurationError(
        "no Chromium is installed; install the system package (Debian: apt-get install chromium) "
        "or set SYNTHRAL_CHROMIUM to a Chromium binary"
    )


@dataclass(frozen=True)
class BrowserLimits:
    """Where a browser is killed: memory of its whole process tree, and seconds per operation."""

    memory_mb: int = 1536
    operation_s: float = 60.0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def browser_processes(root: int | None = None) -> list[int]:
    """PIDs of the Chromium processes descending from ``root`` (this process by default)."""
    tree = _children()
    found: list[int] = []
    stack = list(tree.get(root or os.getpid(), []))
    while stack:
        pid = stack.pop()
        stack.extend(tree.get(pid, []))
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if "chrom" in Path(exe).name:
            found.append(pid)
    return found


def tree_rss_mb(pids: list[int]) -> float:
    """Memory of ``pids`` together, in MiB: proportional set size, so pages they share count once."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total / 1024


def kill_browsers(root: int | None = None) -> int:
    """SIGKILL every Chromium process descending from ``root``; return how many were killed."""
    pids = browser_processes(root)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    return len(pids)


class ChromiumProcess:
    """A headless Chromium with a DevTools port on 127.0.0.1, for libraries that connect over CDP.

    Started with :meth:`start` (the system's binary, :data:`CHROMIUM_FLAGS`, a throwaway
    profile, plus ``args``); :attr:`cdp_url` is what ``connect_over_cdp`` takes.
    """

    def __init__(self, args: list[str] | None = None) -> None:
        self.args = list(args or [])
        self.cdp_url = ""
        self.process: asyncio.subprocess.Process | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None

    async def start(self, timeout: float = 30.0) -> ChromiumProcess:
        """Start it and wait for its DevTools port.

        Raises:
            ConfigurationError: No Chromium is installed.
            RetryableError: It did not open its port in time.
        """
        self._profile = tempfile.TemporaryDirectory(prefix="synthral-chromium-")
        profile = Path(self._profile.name)
        self.process = await asyncio.create_subprocess_exec(
            chromium_path(), "--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}", *CHROMIUM_FLAGS, *self.args, "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.process.returncode is not None or time.monotonic() > deadline:
                await self.stop()
                raise RetryableError("Chromium did not open its DevTools port; check that it starts on this machine")
            await asyncio.sleep(0.05)
        self.cdp_url = f"http://127.0.0.1:{port_file.read_text().split()[0]}"
        return self

    async def stop(self) -> None:
        """Kill it and its children, and delete its profile."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    async def __aenter__(self) -> ChromiumProcess:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
