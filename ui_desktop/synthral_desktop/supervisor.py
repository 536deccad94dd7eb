"""The local host as a supervised child process: started, watched, restarted after a crash.

The child (:mod:`synthral_desktop.hostproc`) says where it listens on its stdout; the
supervisor turns that into :attr:`HostSupervisor.ready`. A child that exits without being
asked to is started again at once, then with back-off (1, 2, 5, 10 s) if it keeps failing; a
run it had in flight resumes from its checkpoint, since the new host's worker finds the
expired lease. Everything is driven by the child's signals: no timer runs while it is well.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

__all__ = ["HostEndpoint", "HostSupervisor"]

BACKOFF = (0.0, 1.0, 2.0, 5.0, 10.0)
HEALTHY_AFTER = 30.0
"""A child that lived this long counts as healthy: its crash restarts it at once again."""


@dataclass(frozen=True)
class HostEndpoint:
    """Where the local host listens and the launch token it accepts (None when it has none)."""

    port: int
    token: str | None
    pid: int

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def launch_url(self, path: str = "/") -> str:
        """The URL that opens the web app with the token (which the host turns into a cookie)."""
        query = f"?token={self.token}" if self.token else ""
        return f"{self.base}{path}{query}"

    def headers(self) -> dict[str, str]:
        """Headers for the app's own API calls."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


class HostSupervisor(QObject):
    """Starts the local host for ``home`` and keeps it running until :meth:`stop`.

    Signals:
        ready(HostEndpoint): The host listens (after each start).
        lost(str): The host exited unexpectedly; the reason. A restart follows.
        failed(str): The host cannot start (it exited before it listened) five times in a row.
    """

    ready = Signal(object)
    lost = Signal(str)
    failed = Signal(str)

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.endpoint: HostEndpoint | None = None
        self.restarts = 0
        self._process: QProcess | None = None
        self._stopping = False
        self._failures = 0
        self._started_at = 0.0
        self._buffer = b""
        self._errors = b""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._spawn)

    def start(self) -> None:
        """Start the host (it reports :attr:`ready` when it listens)."""
        self._stopping = False
        self._spawn()

    def pid(self) -> int | None:
        """The child's process id while it runs."""
        if self._process is None or self._process.state() == QProcess.ProcessState.NotRunning:
            return None
        return int(self._process.processId())

    def _spawn(self) -> None:
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("SYNTHRAL_HOME", str(self.home))
        environment.remove("SYNTHRAL_DATABASE_URL")  # the desktop is always the embedded SQLite file
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.setProgram(sys.executable)
        frozen = bool(getattr(sys, "frozen", False))
        process.setArguments(["--host-process"] if frozen else ["-m", "synthral_desktop.hostproc"])
        process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.readyReadStandardError.connect(self._read_errors)
        process.finished.connect(self._finished)
        self._buffer = b""
        self._errors = b""
        self._process = process
        self._started_at = time.monotonic()
        process.start()

    def _read(self) -> None:
        if self._process is None:
            return
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "port" in message:
                self.endpoint = HostEndpoint(int(message["port"]), message.get("token"), int(message["pid"]))
                self._failures = 0
                self.ready.emit(self.endpoint)

    def _read_errors(self) -> None:
        if self._process is not None:
            # The last lines only: enough to say why it stopped, never a growing buffer.
            self._errors = (self._errors + bytes(self._process.readAllStandardError().data()))[-8192:]
            if os.environ.get("SYNTHRAL_DESKTOP_VERBOSE"):
                sys.stderr.write(self._errors.decode(errors="replace"))

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        sender = self.sender()
        if sender is not self._process or self._stopping:
            return
        self.endpoint = None
        lived = time.monotonic() - self._started_at
        tail = self._errors.decode(errors="replace").strip().splitlines()[-3:]
        how = "crashed" if status == QProcess.ExitStatus.CrashExit else f"exited with code {code}"
        reason = f"the local host {how}" + (f": {' / '.join(tail)}" if tail else "")
        if lived >= HEALTHY_AFTER:
            self._failures = 0
        self._failures += 1
        if self._failures > len(BACKOFF):
            self.failed.emit(reason)
            return
        self.restarts += 1
        self.lost.emit(reason)
        self._timer.start(int(BACKOFF[self._failures - 1] * 1000))

    def stop(self, timeout_ms: int = 15000) -> None:
        """Stop the host: close its stdin (it shuts down cleanly), then terminate, then kill."""
        self._stopping = True
        self._timer.stop()
        process = self._process
        if process is None or process.state() == QProcess.ProcessState.NotRunning:
            return
        process.closeWriteChannel()
        if not process.waitForFinished(timeout_ms):
            process.terminate()
            if not process.waitForFinished(3000):
                process.kill()
                process.waitForFinished(3000)
