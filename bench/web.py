"""The web app in headless Chromium: initial JavaScript, a 300-node canvas, a 200-step run streaming.

Starts a real ``synthral serve`` (tests/support/e2e_server.py) and runs web/bench/run.mjs
against it; needs ``npm run build`` in web/ first (scripts/test.sh does it).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import Result

ROOT = Path(__file__).resolve().parents[1]
GROUP = "web"


def _measure(quick: bool) -> dict[str, dict[str, float]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.e2e_server"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        info = server.stdout.readline().decode()
        if not info:
            raise RuntimeError("the server for the web benchmark did not start")
        env = {**os.environ, "E2E_INFO": info, "BENCH_QUICK": "1" if quick else "0"}
        command = ["node", "bench/run.mjs"]
        answer = subprocess.run(command, check=False, cwd=ROOT / "web", env=env, capture_output=True, text=True)
        if answer.returncode != 0:
            raise RuntimeError(f"web/bench/run.mjs failed:\n{answer.stderr[-3000:]}")
        figures: dict[str, dict[str, float]] = json.loads(answer.stdout.strip().splitlines()[-1])
        return figures
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(60)


async def run(quick: bool) -> list[Result]:
    """Measure the web app and compare with the targets."""
    load_before = os.getloadavg()[0]
    figures = await asyncio.to_thread(_measure, quick)
    js, open_, stream = figures["js"], figures["open"], figures["stream"]
    # The machine may be shared: its load is part of every browser figure's story.
    load = {"load_average_before": load_before, "load_average_after": os.getloadavg()[0]}
    return [
        Result(GROUP, "initial JS, sign-in page (gzip)", js["sign_in_kb"], "KB", "<= 300", js["sign_in_kb"] <= 300),
        Result(GROUP, "JS to show the workflow list (gzip)", js["workflows_kb"], "KB", "<= 300",
               js["workflows_kb"] <= 300),
        Result(GROUP, "300 nodes: first paint, cold load", open_["first_paint_ms"], "ms", "<= 1000",
               open_["first_paint_ms"] <= 1000, {"max_ms": open_["first_paint_max_ms"], **load}),
        Result(GROUP, "300 nodes: open from the list", open_["in_app_open_ms"], "ms", "<= 1000",
               open_["in_app_open_ms"] <= 1000),
        Result(GROUP, "300 nodes: drag a node", open_["drag_fps"], "frames/s", ">= 50", open_["drag_fps"] >= 50,
               {"p95_frame_ms": open_["drag_p95_frame_ms"], "moved_px": open_["drag_moved_px"]}),
        Result(GROUP, "same pointer moves, no drag (browser's own rate)", open_["idle_fps"], "frames/s"),
        Result(GROUP, "200-step run: step shown after its record, max", stream["lag_max_ms"], "ms", "<= 250",
               stream["lag_max_ms"] <= 250, {"p50_ms": stream["lag_p50_ms"], "p95_ms": stream["lag_p95_ms"],
                                             "steps": stream["steps"], "shown": stream["shown"]}),
        Result(GROUP, "  of which record to event at the page, max", stream["server_max_ms"], "ms", "",
               None, {"p50_ms": stream["server_p50_ms"]}),
        Result(GROUP, "  of which event to row on screen, max", stream["page_max_ms"], "ms", "",
               None, {"p50_ms": stream["page_p50_ms"]}),
    ]  # fmt: skip
