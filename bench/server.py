"""Server-mode benchmarks: webhook ingress under load, API latency under that load, runs in flight.

The server is a real ``synthral serve`` process on the embedded SQLite file; the load
generator is a second process on loopback (``bench.loadgen``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Result, percentile, rss_mb

GROUP = "server"
PASSWORD = "benchmark passphrase 1"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    limits = {f"SYNTHRAL_LIMIT_{n}": "1000000" for n in ("IP_RATE", "IP_BURST", "USER_RATE", "USER_BURST")}
    return {**os.environ, **limits, "SYNTHRAL_HOME": str(home), "SYNTHRAL_WHEELHOUSE": str(home / "wheelhouse"),
            "SYNTHRAL_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(), "BENCH_PASSWORD": PASSWORD}  # fmt: skip


async def _serve(home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    env = _env(home)
    subprocess.run([sys.executable, "-m", "synthral", "user", "create", "bench@example.com", "--workspace", "bench",
                    "--password-env", "BENCH_PASSWORD"], env=env, check=True, capture_output=True)  # fmt: skip
    port = _port()
    command = [sys.executable, "-m", "synthral", "serve", "--port", str(port), "--no-scheduler", *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/api/v1/health")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


async def _client(url: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=60.0)
    login = await http.post("/auth/login", json={"email": "bench@example.com", "password": PASSWORD})
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return http


def _workflow(name: str, trigger: str | None = None, **node: Any) -> dict[str, Any]:
    nodes = [{"id": "a", "type": "core/set", "config": {"values": {"x": 1}}, **node}]
    return {"name": name, "nodes": nodes, "edges": [], "triggers": [{"type": trigger}] if trigger else []}


async def _probe(http: httpx.AsyncClient, workflow_id: str, stop: asyncio.Event) -> dict[str, list[float]]:
    """Non-blocking API calls (create, run, status) while the load runs."""
    samples: dict[str, list[float]] = {"create": [], "run": [], "status": []}
    index = 0
    while not stop.is_set():
        index += 1
        started = time.perf_counter()
        await http.post("/workflows", json=_workflow(f"probe-{index}"))
        samples["create"].append(time.perf_counter() - started)
        started = time.perf_counter()
        run = await http.post(f"/workflows/{workflow_id}/run", json={})
        samples["run"].append(time.perf_counter() - started)
        started = time.perf_counter()
        await http.get(f"/executions/{run.json()['execution_id']}")
        samples["status"].append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return samples


async def _load(url: str, path: str, secret: str, seconds: float, *options: str) -> dict[str, Any]:
    """Run the load generator in its own process; its report."""
    load = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", url, path, secret, "--seconds", str(seconds), *options,
        stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    output, _ = await load.communicate()
    report: dict[str, Any] = json.loads(output)
    return report


async def ingress(home: Path, seconds: float, connections: int, rate: float) -> list[Result]:
    """Deliveries at the server's ceiling (closed loop), then at ``rate`` (open loop); API calls meanwhile."""
    process, url = await _serve(home, "--no-worker")
    try:
        http = await _client(url)
        hooked = (await http.post("/workflows", json=_workflow("hooked", "webhook"))).json()
        subscription = (await http.post(f"/workflows/{hooked['id']}/webhook")).json()
        path = "/api/v1" + subscription["url"].split("/api/v1", 1)[1]
        secret = subscription["secret"]
        plain = (await http.post("/workflows", json=_workflow("probed"))).json()
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(http, plain["id"], stop))
        ceiling = await _load(url, path, secret, seconds, "--connections", str(connections))
        stop.set()
        samples = await probe
        steady = await _load(url, path, secret, seconds, "--connections", "64", "--rate", str(rate))
        server_rss = rss_mb(process.pid)
        floor = await _load(url, path, secret, min(seconds, 5.0), "--connections", str(connections), "--health")
        await http.aclose()
    finally:
        process.terminate()
        process.wait(timeout=30)
    ok: list[float] = ceiling["ok"]
    top = len(ok) / ceiling["elapsed"]
    floor_rate = len(floor["ok"]) / floor["elapsed"]
    held: list[float] = steady["ok"]
    held_rate = len(held) / steady["elapsed"]
    held_p99 = percentile(held, 99) * 1000
    kept = held_rate >= 0.98 * rate and steady["failed"] == 0
    results = [
        Result(GROUP, f"webhook ingress ceiling, {connections} connections, accepted deliveries", top, "/s",
               ">= 1,000/s", top >= 1000, {"failed": ceiling["failed"]}),
        Result(GROUP, "  at the ceiling: p50", percentile(ok, 50) * 1000, "ms"),
        Result(GROUP, "  at the ceiling: p99", percentile(ok, 99) * 1000, "ms"),
        Result(GROUP, f"webhook ingress at {rate:,.0f}/s offered (open loop): accepted", held_rate, "/s",
               f"{rate:,.0f}/s, none failed", kept, {"failed": steady["failed"]}),
        Result(GROUP, f"  at {rate:,.0f}/s: p50", percentile(held, 50) * 1000, "ms"),
        Result(GROUP, f"  at {rate:,.0f}/s: p99", held_p99, "ms", "<= 50 ms", held_p99 <= 50),
        Result(GROUP, "floor: GET /health through the router, same server, closed loop", floor_rate, "/s"),
        Result(GROUP, "webhook ingress ceiling / health floor (rate ratio)", top / floor_rate, "x"),
        Result(GROUP, "API server RSS after the load", server_rss, "MiB"),
    ]  # fmt: skip
    for name, values in samples.items():
        value = percentile(values, 99) * 1000
        results.append(Result(GROUP, f"API {name} p99 at the ingress ceiling (n={len(values)})", value, "ms",
                              "<= 300 ms", value <= 300))  # fmt: skip
    return results


async def in_flight(home: Path, count: int) -> list[Result]:
    """``count`` runs waiting on a signal at once in a serve process with its worker; then all resume."""
    process, url = await _serve(home)
    try:
        http = await _client(url)
        held = {"name": "held", "nodes": [{"id": "hold", "type": "engine/wait_signal", "config": {"signal": "go"}}],
                "edges": []}  # fmt: skip
        workflow = (await http.post("/workflows", json=held)).json()
        ids = []
        for _ in range(count):
            ids.append((await http.post(f"/workflows/{workflow['id']}/run", json={})).json()["execution_id"])
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            page = (await http.get("/executions", params={"status": "waiting", "limit": 200})).json()
            waiting = await _count(http, "waiting")
            if waiting >= count:
                break
            await asyncio.sleep(0.5)
        del page
        rss_waiting = rss_mb(process.pid)
        for execution_id in ids:
            await http.post(f"/executions/{execution_id}/signal", json={"name": "go", "dedupe_key": "go"})
        while time.monotonic() < deadline and await _count(http, "completed") < count:
            await asyncio.sleep(0.5)
        completed = await _count(http, "completed")
        await http.aclose()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return [
        Result(GROUP, f"{count} runs in flight at once (waiting on a signal), serve RSS", rss_waiting, "MiB",
               f"all {count} waiting", waiting >= count),
        Result(GROUP, f"of {count} in flight, completed after their signals", completed, "runs", f"= {count}",
               completed == count),
    ]  # fmt: skip


async def _count(http: httpx.AsyncClient, status: str) -> int:
    total = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"status": status, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/executions", params=params)).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return total


async def run(quick: bool = False) -> list[Result]:
    """Run the group."""
    work = Path(tempfile.mkdtemp(prefix="synthral-bench-server-"))
    results = await ingress(work / "ingress", 4.0 if quick else 15.0, 32, 1000.0)
    results += await in_flight(work / "flight", 100 if quick else 1000)
    return results
