"""The desktop app: cold start to a usable builder, idle memory, idle CPU over 60 s.

Runs bench/desktop_probe.py in the desktop app's own venv (``cd ui_desktop && uv sync``
first; it has PySide6, the host's venv does not) and the web app's build (``npm run build``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]
DESKTOP_PYTHON = ROOT / "ui_desktop" / ".venv" / "bin" / "python"
GROUP = "desktop"


def _measure(quick: bool) -> dict[str, float]:
    if not DESKTOP_PYTHON.exists():
        raise RuntimeError("the desktop app's venv is missing: run 'cd ui_desktop && uv sync' first")
    env = {**os.environ, "BENCH_T0": repr(time.time()), "BENCH_IDLE_SECONDS": "15" if quick else "60"}
    env.pop("SYNTHRAL_DATABASE_URL", None)
    answer = subprocess.run(
        [str(DESKTOP_PYTHON), "-m", "bench.desktop_probe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"bench/desktop_probe.py failed:\n{answer.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(answer.stdout.strip().splitlines()[-1])
    return figures


async def run(quick: bool) -> list[Result]:
    """Measure the desktop app and compare with the targets."""
    load_before = os.getloadavg()[0]
    figures = await asyncio.to_thread(_measure, quick)
    load = {"load_average_before": load_before, "load_average_after": os.getloadavg()[0], "cores": os.cpu_count()}
    return [
        Result(
            GROUP,
            "cold start to a usable builder",
            figures["usable_s"],
            "s",
            "<= 2",
            figures["usable_s"] <= 2,
            {"host_listening_s": figures["host_ready_s"], **load},
        ),
        Result(
            GROUP,
            "idle memory (PSS), app + host + Chromium",
            figures["idle_pss_mib"],
            "MiB",
            "<= 350",
            figures["idle_pss_mib"] <= 350,
            {
                "rss_summed_mib": figures["idle_rss_mib"],
                "host_rss_mib": figures["host_rss_mib"],
                "processes": figures["processes"],
            },
        ),
        Result(
            GROUP,
            "idle CPU, all processes",
            figures["idle_cpu_percent"],
            "% of one core",
            "~ 0",
            figures["idle_cpu_percent"] <= 1.0,
            {"over_s": figures["idle_seconds"], **load},
        ),
    ]
