"""Code runtime benchmarks: start-to-result of ``print(1)`` on each runtime, with ``python -c`` as the floor.

Every runtime plugin is installed from this repository into a throwaway home and called the
way a workflow step calls it: the host's plugin host, JSON-RPC to the plugin's runner, the
runtime, the sandbox, and back. A sample is the wall-clock time of one ``execute`` call.
code-wasi keeps interpreters warm; its samples are taken 1 s apart (the pool refills in
the background) and, separately, back to back (a busy burst that outruns the refill).
code-e2b is not measured: E2B is out of reach here, and a figure against the local stand-in
would be the stand-in's, not E2B's.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result, percentile
from synthral.config import Settings
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest

GROUP = "code"
REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0
RUNTIMES = ("code-wasi", "code-bwrap", "code-gvisor")


def _python_floor(samples: int) -> list[float]:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "print(1)"], check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return timings


async def _timed(
    host: PluginHost, ref: str, config: dict[str, Any], secrets: dict[str, str], samples: int, pause: float
) -> list[float]:
    payload = {"language": "python", "code": "print(1)"}
    timings = []
    for _ in range(samples):
        context = host.context(timeout=120, secrets=secrets)
        started = time.perf_counter()
        output = await host.invoke(ref, payload, config=config, operation="execute", context=context)
        timings.append(time.perf_counter() - started)
        if output.get("stdout") != "1\n":
            raise RuntimeError(f"{ref} answered {output!r}")
        await asyncio.sleep(pause)
    return timings


def _row(name: str, timings: list[float], *, target: bool = False, **extra: object) -> Result:
    p50 = percentile([t * 1000 for t in timings], 50)
    return Result(
        GROUP,
        name,
        p50,
        "ms p50",
        target=f"<= {TARGET_MS:g} ms" if target else "",
        ok=(p50 <= TARGET_MS) if target else None,
        extra={"p90_ms": percentile([t * 1000 for t in timings], 90), "samples": len(timings), **extra},
    )


async def run(quick: bool) -> list[Result]:
    samples = 8 if quick else 40
    results = [_row("python -c print(1) (the floor)", _python_floor(samples))]
    home = Path(tempfile.mkdtemp(prefix="synthral-bench-code-"))
    settings = Settings.load(home=home).replace(plugins={"call_timeout": 300.0})
    host = PluginHost(settings)
    try:
        for name in RUNTIMES:
            await host.install(str(REPO / "plugins" / name), grant=GrantRequest(items=["all"]))
        plans: list[tuple[str, dict[str, Any], dict[str, str], float, str, bool]] = [
            ("code-wasi/wasi", {}, {}, 1.0, "code-wasi, warm pool (1 s apart)", True),
            ("code-wasi/wasi", {}, {}, 0.0, "code-wasi, back to back", False),
            ("code-bwrap/bwrap", {}, {}, 0.0, "code-bwrap", False),
            ("code-gvisor/gvisor", {}, {}, 0.0, "code-gvisor (runsc, ptrace)", False),
        ]
        for ref, config, secrets, pause, label, target in plans:
            count = max(4, samples // 4) if "gvisor" in ref else samples
            await _timed(host, ref, config, secrets, 2, 1.0)  # start the plugin, compile and warm what it keeps
            timings = await _timed(host, ref, config, secrets, count, pause)
            results.append(_row(label, timings, target=target))
    finally:
        await host.close()
        shutil.rmtree(home, ignore_errors=True)
    return results
