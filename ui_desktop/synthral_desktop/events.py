"""Live execution events from the local host's WebSocket, for the tray and the notifications.

The socket stays open while the host runs; when it closes (the host restarted) the app
reconnects on the supervisor's next ``ready``. Events arrive as the host sees them: the
desktop itself runs no timer.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtNetwork import QNetworkRequest
from PySide6.QtWebSockets import QWebSocket

from synthral_desktop.supervisor import HostEndpoint

__all__ = ["EventStream"]


class EventStream(QObject):
    """The workspace's execution events.

    Signals:
        received(dict): One event (``type`` like ``execution.failed``, ``execution_id``, ``workflow``...).
        subscribed(): The stream is live.
    """

    received = Signal(dict)
    subscribed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._socket: QWebSocket | None = None

    def connect_to(self, endpoint: HostEndpoint) -> None:
        """Open the stream on ``endpoint`` (closing any earlier one)."""
        self.close()
        socket = QWebSocket()
        socket.setParent(self)
        socket.textMessageReceived.connect(self._message)
        socket.connected.connect(lambda: socket.sendTextMessage(json.dumps({"type": "hello"})))
        request = QNetworkRequest(QUrl(f"ws://127.0.0.1:{endpoint.port}/api/v1/ws"))
        if endpoint.token:
            request.setRawHeader(b"Cookie", f"synthral_local={endpoint.token}".encode())
        request.setRawHeader(b"Origin", endpoint.base.encode())
        self._socket = socket
        socket.open(request)

    def _message(self, text: str) -> None:
        try:
            message: Any = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "ready" and self._socket is not None:
            self._socket.sendTextMessage(json.dumps({"type": "subscribe"}))
        elif kind == "subscribed":
            self.subscribed.emit()
        elif kind == "event":
            self.received.emit(message)

    def close(self) -> None:
        """Close the stream."""
        if self._socket is not None:
            self._socket.close()
            self._socket.deleteLater()
            self._socket = None
