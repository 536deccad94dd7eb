"""Runs inside the desktop app's venv (PySide6): start the app, wait for a usable builder, then sit idle.

Prints one JSON line: seconds from the process's launch to the host listening and to the
builder's list of workflows on screen, then RSS and CPU of the app with all its children
(the host, Chromium's processes) while idle. Started by bench/desktop.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

T0 = float(os.environ.get("BENCH_T0", time.time()))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"

import psutil  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from synthral_desktop.app import DesktopApp  # noqa: E402


def pump_until(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise RuntimeError("timed out")


def tree(process: psutil.Process) -> list[psutil.Process]:
    return [process, *process.children(recursive=True)]


def main() -> None:
    application = QApplication(sys.argv[:1])
    home = Path(tempfile.mkdtemp(prefix="synthral-desktop-bench-"))
    app = DesktopApp(home, interactive=False)
    app.start()
    pump_until(lambda: app.supervisor.endpoint is not None, 600)
    host_ready = time.time() - T0
    assert app.window is not None
    seen: list[str] = []

    def builder_shown() -> bool:
        assert app.window is not None
        app.window.view.page().runJavaScript("document.body ? document.body.innerText : ''", 0, seen.append)
        return any("Workflows" in text and "New workflow" in text for text in seen)

    pump_until(builder_shown, 600)
    usable = time.time() - T0
    settle_until = time.monotonic() + 10
    pump_until(lambda: time.monotonic() > settle_until, 20)
    me = psutil.Process()
    processes = tree(me)
    rss = sum(p.memory_info().rss for p in processes) / 2**20
    # Proportional set size: pages shared between Chromium's processes (and the libraries every
    # process maps) counted once in all, as the memory the app really takes.
    pss = sum(p.memory_full_info().pss for p in processes) / 2**20 if sys.platform == "linux" else rss
    before = {p.pid: sum(p.cpu_times()[:2]) for p in processes}
    started = time.monotonic()
    QTimer.singleShot(int(IDLE_SECONDS * 1000), application.quit)
    application.exec()  # the app's own event loop, as a person leaves it: nothing is posted
    cpu = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            cpu += sum(process.cpu_times()[:2]) - before[process.pid]
    elapsed = time.monotonic() - started
    host_pid = app.supervisor.pid()
    host_rss = psutil.Process(host_pid).memory_info().rss / 2**20 if host_pid else 0.0
    app.shutdown()
    sys.stdout.write(
        json.dumps(
            {
                "host_ready_s": host_ready,
                "usable_s": usable,
                "idle_rss_mib": rss,
                "idle_pss_mib": pss,
                "host_rss_mib": host_rss,
                "processes": len(processes),
                "idle_cpu_percent": 100 * cpu / elapsed,
                "idle_seconds": elapsed,
            }
        )
        + "\n"
    )
    sys.stdout.flush()
    os._exit(0)  # skip PySide's teardown at interpreter exit: the figures are out


if __name__ == "__main__":
    main()
