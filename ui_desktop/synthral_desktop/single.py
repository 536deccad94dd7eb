"""One app per data folder and user: a second launch hands its request to the first and exits.

The first app listens on a local socket named after the data folder (QLocalServer: a Unix
socket or a Windows named pipe, reachable only by this user). A second launch connects,
sends ``{"open": [files...]}`` and exits; the first raises its window and opens the files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

__all__ = ["SingleInstance", "server_name"]

CONNECT_MS = 1500


def server_name(home: Path) -> str:
    """The socket name for ``home`` (per user, per data folder)."""
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    return f"synthral-desktop-{user}-{digest}"


class SingleInstance(QObject):
    """The single-instance socket of one data folder.

    Signals:
        activated(list): Another launch asked to be shown; the files it was given.
    """

    activated = Signal(list)

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(home)
        self._server: QLocalServer | None = None

    def hand_over(self, files: list[str]) -> bool:
        """If an app runs for this folder, give it ``files`` and return True (this launch should exit)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_MS):
            return False
        socket.write(json.dumps({"open": files}).encode() + b"\n")
        socket.flush()
        socket.waitForBytesWritten(CONNECT_MS)
        socket.waitForReadyRead(CONNECT_MS)  # the first app's acknowledgement
        socket.disconnectFromServer()
        return True

    def listen(self) -> None:
        """Be the app other launches hand over to (a socket left by a crashed app is replaced)."""
        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            raise RuntimeError(f"cannot listen on {self.name}: {server.errorString()}")
        server.newConnection.connect(self._accept)
        self._server = server

    def _accept(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        line = bytes(socket.readLine().data())
        try:
            message = json.loads(line)
        except ValueError:
            message = {}
        files = message.get("open") if isinstance(message, dict) else None
        socket.write(b"ok\n")
        socket.flush()
        socket.disconnectFromServer()
        self.activated.emit([str(f) for f in files] if isinstance(files, list) else [])

    def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            self._server = None
