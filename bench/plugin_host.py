"""Plugin host benchmarks: round trip, cold start, install, concurrency, memory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import Result, percentile, summary_us, tree_rss_mb
from synthral.config import Settings
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.proxy import RemoteCapability
from synthral.plugins.supervisor import PluginProcess
from synthral.plugins.trust_settings import SandboxMode
from synthral.plugins.uv import run_uv
from synthral_sdk import Capability, Context
from synthral_sdk._plugin_set import new_plugin_manager

GROUP = "plugin host"
REPO = Path(__file__).resolve().parent.parent
NOOP_SOURCE = REPO / "tests" / "fixtures" / "plugins" / "noop"


def _bare_pipe_round_trip(calls: int) -> list[float]:
    """A child that echoes lines: the floor any pipe protocol sits on."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfor line in sys.stdin.buffer:\n sys.stdout.buffer.write(line); sys.stdout.buffer.flush()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    line = b'{"jsonrpc":"2.0","id":1,"result":{"output":{}}}\n'
    samples = []
    for index in range(calls + 200):
        started = time.perf_counter()
        child.stdin.write(line)
        child.stdin.flush()
        child.stdout.readline()
        if index >= 200:
            samples.append(time.perf_counter() - started)
    child.stdin.close()
    child.wait()
    child.stdout.close()
    return samples


async def _timed_calls(call: object, calls: int, warmup: int = 300) -> list[float]:
    samples = []
    for index in range(calls + warmup):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        if index >= warmup:
            samples.append(time.perf_counter() - started)
    return samples


def _in_process_noop() -> Capability:
    """The same plugin module, registered into a PluginManager in this process."""
    sys.path.insert(0, str(NOOP_SOURCE))
    import synthral_fixture_noop  # noqa: PLC0415 -- imported only for the in-process comparison

    pm = new_plugin_manager()
    pm.register(synthral_fixture_noop, name="noop")
    nodes = [node for batch in pm.hook.synthral_nodes() for node in batch]
    return next(node for node in nodes if node.spec().name == "noop")


def _pydantic_floor(python: Path, runs: int) -> list[float]:
    """Start an interpreter that imports pydantic and builds one model: the floor of any SDK plugin's start."""
    code = "from pydantic import BaseModel\nclass A(BaseModel):\n    x: int = 0\n"
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(python), "-I", "-c", code], check=True)
        samples.append(time.perf_counter() - started)
    return samples


def _host_idle_rss(home: Path) -> float:
    code = (
        "import os\nfrom synthral.config import Settings\nfrom synthral.plugins.host import PluginHost\n"
        f"host = PluginHost(Settings.load(home={str(home)!r}))\nhost.catalog()\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1024


async def run(quick: bool = False) -> list[Result]:
    """Run the group; ``quick`` uses fewer samples (for a smoke run)."""
    calls = 2000 if quick else 10000
    results: list[Result] = []
    work = Path(tempfile.mkdtemp(prefix="synthral-bench-"))
    settings = Settings.load(home=work / "home").replace(plugins={"wheelhouse": work / "wheelhouse"})
    await run_uv(["build", "--wheel", "--quiet", "--out-dir", str(work / "wheels"), str(NOOP_SOURCE)], what="build")
    wheel = next((work / "wheels").glob("*.whl"))

    # Install into fresh venvs; the first one warms the caches (SDK wheel, uv cache).
    install_times = []
    for attempt in range(2 if quick else 4):
        target = settings.replace(home=work / f"install-{attempt}")
        host = PluginHost(target)
        started = time.perf_counter()
        await host.install(str(wheel), grant=GrantRequest(items=["all"]))
        if attempt > 0:
            install_times.append(time.perf_counter() - started)
        await host.close()
    install_p50 = percentile(install_times, 50)
    results.append(
        Result(
            GROUP,
            "install small plugin, fresh venv, warm cache (p50)",
            install_p50,
            "s",
            "<= 1.5 s",
            install_p50 <= 1.5,
            {"samples": install_times},
        )
    )

    host = PluginHost(settings.replace(home=work / "install-0"))
    try:
        remote = host.resolve("noop/noop")
        assert isinstance(remote, RemoteCapability)
        context = Context(blobs=host.blobs)
        await remote.call("run", {}, {}, context)

        pipe = summary_us(_bare_pipe_round_trip(calls))
        results.append(Result(GROUP, "bare pipe round trip, no protocol (p50)", pipe["p50"], "µs", extra=pipe))

        remote_stats = summary_us(await _timed_calls(lambda: remote.call("run", {}, {}, context), calls))
        local = _in_process_noop()
        local_stats = summary_us(await _timed_calls(lambda: local.call("run", {}, {}, context), calls))
        results.append(
            Result(
                GROUP,
                "no-op invoke host→plugin→host (p50)",
                remote_stats["p50"],
                "µs",
                "<= 80 µs",
                remote_stats["p50"] <= 80,
                remote_stats,
            )
        )
        results.append(Result(GROUP, "no-op invoke host→plugin→host (p99)", remote_stats["p99"], "µs"))
        results.append(
            Result(GROUP, "same call in process through pluggy (p50)", local_stats["p50"], "µs", extra=local_stats)
        )
        results.append(Result(GROUP, "remote / in-process (p50 ratio)", remote_stats["p50"] / local_stats["p50"], "x"))
        results.append(Result(GROUP, "remote / bare pipe (p50 ratio)", remote_stats["p50"] / pipe["p50"], "x"))

        # Eight callers sharing one plugin process.
        duration = 1.5 if quick else 4.0
        done = 0

        async def caller(stop_at: float) -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                await remote.call("run", {}, {}, context)
                done += 1

        stop_at = time.perf_counter() + duration
        await asyncio.gather(*(caller(stop_at) for _ in range(8)))
        results.append(Result(GROUP, "8 concurrent callers, one plugin process", done / duration, "calls/s"))

        plugin_pid = remote.process.pid
        assert plugin_pid is not None
        results.append(
            Result(GROUP, "RSS of one SDK-only plugin process (its sandbox included)", tree_rss_mb(plugin_pid), "MiB")
        )
        results.append(Result(GROUP, "host idle RSS (plugin host loaded)", _host_idle_rss(work / "install-0"), "MiB"))

        # Cold start: spawn to 'initialize' answered.
        options = remote.process.options
        starts = []
        for _ in range(8 if quick else 25):
            process = PluginProcess(options)
            started = time.perf_counter()
            await process.start()
            starts.append(time.perf_counter() - started)
            await process.stop()
        cold = percentile(starts, 50) * 1000
        results += await _sandbox_overhead(host, work / "install-0", settings, calls, 8 if quick else 25)
        results += await _egress_overhead(work / "egress", 3 if quick else 5, 20 if quick else 50)
        floor = percentile(_pydantic_floor(options.python, 5 if quick else 15), 50) * 1000
        results.append(Result(GROUP, "floor: new interpreter importing pydantic + one model (p50)", floor, "ms"))
        results.append(Result(GROUP, "cold start / floor (p50 ratio)", cold / floor, "x"))
        results.append(
            Result(
                GROUP,
                "cold start, spawn to initialize answered (p50)",
                cold,
                "ms",
                "<= 150 ms",
                cold <= 150,
                {"samples_ms": [s * 1000 for s in starts]},
            )
        )
    finally:
        await host.close()
    return results


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def _egress_overhead(home: Path, rounds: int, calls: int) -> list[Result]:
    """An HTTP request made by the http plugin, in the sandbox (through its egress proxy) and not.

    The two hosts take turns, round by round, so a machine whose load drifts weighs on both.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/item"
    # The loopback server is an internal address, which plugins reach only when allowed.
    settings = Settings.load(home=home).replace(security={"egress_allow": "127.0.0.1"})
    sandboxed = PluginHost(settings)
    await sandboxed.install(str(REPO / "plugins" / "http"), grant=GrantRequest(items=["all"]))
    bare = PluginHost(settings.replace(sandbox={"mode": SandboxMode.OFF}))
    hosts = {"sandboxed": sandboxed, "unsandboxed": bare}
    samples: dict[str, list[float]] = {label: [] for label in hosts}
    try:
        for _ in range(rounds):
            for label, host in hosts.items():
                capability = host.resolve("http/request")
                context = host.context()
                await capability.call("run", {}, {"url": url}, context)  # a warm process and pool
                for _ in range(calls):
                    started = time.perf_counter()
                    await capability.call("run", {}, {"url": url}, context)
                    samples[label].append((time.perf_counter() - started) * 1000)
    finally:
        await sandboxed.close()
        await bare.close()
        server.shutdown()
        server.server_close()
    inside, outside = percentile(samples["sandboxed"], 50), percentile(samples["unsandboxed"], 50)
    return [
        Result(GROUP, "HTTP request by the http plugin, without the sandbox (p50)", outside, "ms"),
        Result(GROUP, "HTTP request by the http plugin, in the sandbox (p50)", inside, "ms"),
        Result(
            GROUP,
            "sandbox egress overhead per HTTP request (p50 difference)",
            inside - outside,
            "ms",
            extra={
                "p90_inside_ms": percentile(samples["sandboxed"], 90),
                "p90_outside_ms": percentile(samples["unsandboxed"], 90),
            },
        ),
    ]


async def _sandbox_overhead(
    sandboxed: PluginHost, home: Path, settings: Settings, calls: int, starts: int
) -> list[Result]:
    """Cold start and round trip of the same plugin with and without the OS sandbox, interleaved."""
    bare = PluginHost(settings.replace(home=home, sandbox={"mode": SandboxMode.OFF}))
    try:
        remotes = {}
        for label, host in (("sandboxed", sandboxed), ("unsandboxed", bare)):
            remote = host.resolve("noop/noop")
            assert isinstance(remote, RemoteCapability)
            remotes[label] = remote
        context = Context(blobs=sandboxed.blobs)
        cold: dict[str, list[float]] = {"sandboxed": [], "unsandboxed": []}
        for _ in range(starts):
            for label, remote in remotes.items():
                process = PluginProcess(remote.process.options)
                started = time.perf_counter()
                await process.start()
                cold[label].append(time.perf_counter() - started)
                await process.stop()
        trips: dict[str, dict[str, float]] = {}
        for remote in remotes.values():
            await remote.call("run", {}, {}, context)
        for label, remote in remotes.items():
            trips[label] = summary_us(await _timed_calls(lambda r=remote: r.call("run", {}, {}, context), calls))
    finally:
        await bare.close()
    inside = percentile(cold["sandboxed"], 50) * 1000
    outside = percentile(cold["unsandboxed"], 50) * 1000
    return [
        Result(GROUP, "cold start without the sandbox (p50)", outside, "ms", extra={"samples_ms": cold["unsandboxed"]}),
        Result(GROUP, "cold start in the sandbox (p50)", inside, "ms", extra={"samples_ms": cold["sandboxed"]}),
        Result(
            GROUP,
            "sandbox cold start overhead (p50 difference)",
            inside - outside,
            "ms",
            "<= +30 ms",
            inside - outside <= 30,
        ),
        Result(GROUP, "no-op round trip without the sandbox (p50)", trips["unsandboxed"]["p50"], "µs"),
        Result(GROUP, "no-op round trip in the sandbox (p50)", trips["sandboxed"]["p50"], "µs"),
        Result(
            GROUP,
            "sandboxed / unsandboxed round trip (p50 ratio)",
            trips["sandboxed"]["p50"] / trips["unsandboxed"]["p50"],
            "x",
        ),
    ]
