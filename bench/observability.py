"""Metrics and tracing on vs off: per-step overhead of the engine, webhook ingress of the server.

Tracing "on" exports every span over OTLP/HTTP to a receiver on this machine (the test
suite's, decoding each request as a collector would) running in a process of its own, as a
collector does, so the cost measured includes the batch exporter's thread but not the
receiver's decoding. The series are always recorded; their own cost is measured apart,
as the time the step hooks take per step, and set against a step's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import Result, percentile
from bench.engine import per_step
from bench.server import _client, _env, _load, _port, _workflow
from synthral.config import Settings
from synthral.observability import hooks
from synthral.observability.tracing import TraceSettings, configure_tracing, shutdown_tracing

GROUP = "observability"


class _Receiver:
    """The test suite's OTLP receiver in a process of its own (``python -m tests.support.otlp``)."""

    def __init__(self) -> None:
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.otlp"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()
        if not self.endpoint.startswith("http://"):
            self.process.kill()
            raise RuntimeError("the OTLP receiver did not start")
        self.spans = 0

    def __enter__(self) -> _Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        out, _ = self.process.communicate(timeout=60)  # closes stdin: the receiver prints its count
        self.spans = int(out.strip() or 0)


def _hook_cost(samples: int) -> float:
    """Seconds the per-step hooks take with tracing off (the series recorded, nothing else)."""
    started = time.perf_counter()
    for _ in range(samples):
        with hooks.step_attempt("n", "core/noop", 1):
            pass
    return (time.perf_counter() - started) / samples


SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
"""The sampled configuration: one run in ten traced whole (the SDK reads these variables)."""


async def _steps(work: Path, steps: int, runs: int, rounds: int) -> tuple[dict[str, float], int]:
    """Per-step seconds off, on and on with 10 % sampling (rounds interleaved, medians); spans received."""
    seconds: dict[str, list[float]] = {"off": [], "on": [], "sampled": []}
    with _Receiver() as receiver:
        for index in range(rounds):
            for mode, values in seconds.items():
                if mode != "off":
                    os.environ.update(SAMPLED if mode == "sampled" else {})
                    settings = Settings.load({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
                    configure_tracing(TraceSettings.from_settings(settings.observability))
                url = f"sqlite+aiosqlite:///{work / f'steps-{index}-{mode}.db'}"
                step_s, _ = await per_step(url, work / f"home-{index}-{mode}", steps, runs)
                values.append(step_s)
                if mode != "off":
                    shutdown_tracing()
                    for name in SAMPLED:
                        os.environ.pop(name, None)
    return {mode: percentile(values, 50) for mode, values in seconds.items()}, receiver.spans


async def _serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``synthral serve --no-worker`` on a free port, waited for up to two minutes (a loaded machine starts slowly)."""
    env = _env(home)
    command = [sys.executable, "-m", "synthral", "user", "create", "bench@example.com", "--workspace", "bench",
               "--password-env", "BENCH_PASSWORD"]  # fmt: skip
    made = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise RuntimeError(f"'synthral user create' exited with {made.returncode}: {made.stderr.strip()[-2000:]}")
    port = _port()
    command = [sys.executable, "-m", "synthral", "serve", "--port", str(port), "--no-scheduler", "--no-worker"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(1200):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/api/v1/health")).status_code == 200:
                    return process, url
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start within two minutes")


async def _ingress(work: Path, seconds: float, traced: bool, endpoint: str, index: int) -> float:
    if traced:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    try:
        process, url = await _serve(work / f"ingress-{index}-{traced}")
    finally:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    try:
        http = await _client(url)
        hooked = (await http.post("/workflows", json=_workflow("hooked", "webhook"))).json()
        subscription = (await http.post(f"/workflows/{hooked['id']}/webhook")).json()
        path = "/api/v1" + subscription["url"].split("/api/v1", 1)[1]
        report = await _load(url, path, subscription["secret"], seconds, "--connections", "32")
        await http.aclose()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return float(len(report["ok"]) / report["elapsed"])


async def run(quick: bool = False) -> list[Result]:
    """Run the group."""
    work = Path(tempfile.mkdtemp(prefix="synthral-bench-observability-"))
    steps, runs, rounds = (100, 3, 2) if quick else (100, 5, 3)
    per_mode, spans = await _steps(work, steps, runs, rounds)
    off, on, sampled = per_mode["off"], per_mode["on"], per_mode["sampled"]
    hook = _hook_cost(2000 if quick else 20000)
    overhead = (on - off) / off * 100
    sampled_overhead = (sampled - off) / off * 100
    results = [
        Result(GROUP, "per-step, 100-step no-op chain, SQLite, tracing off", off * 1000, "ms"),
        Result(
            GROUP,
            "per-step, same chain, tracing on (OTLP/HTTP export)",
            on * 1000,
            "ms",
            "",
            None,
            {"spans_received": spans},
        ),
        Result(GROUP, "per-step overhead of tracing on, every run traced", overhead, "%", "<= +5%", overhead <= 5.0),
        Result(GROUP, "per-step, same chain, tracing on, 10% of runs sampled", sampled * 1000, "ms"),
        Result(
            GROUP,
            "per-step overhead of tracing on, 10% of runs sampled",
            sampled_overhead,
            "%",
            "<= +5%",
            sampled_overhead <= 5.0,
        ),
        Result(
            GROUP,
            "series recorded per step (hook time, tracing off)",
            hook * 1e6,
            "us",
            "",
            None,
            {"share_of_step_percent": hook / off * 100},
        ),
    ]
    seconds = 4.0 if quick else 10.0
    with _Receiver() as receiver:
        rates = {False: [], True: []}  # type: dict[bool, list[float]]
        for index in range(1 if quick else 2):
            for traced in (False, True):
                rates[traced].append(await _ingress(work, seconds, traced, receiver.endpoint, index))
    plain, traced_rate = max(rates[False]), max(rates[True])
    change = (traced_rate - plain) / plain * 100
    results += [
        Result(GROUP, "webhook ingress ceiling, tracing off", plain, "/s"),
        Result(GROUP, "webhook ingress ceiling, tracing on", traced_rate, "/s"),
        Result(GROUP, "webhook ingress change with tracing on", change, "%", ">= -5%", change >= -5.0),
    ]
    return results


if __name__ == "__main__":
    asyncio.run(run(True))
