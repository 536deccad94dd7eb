"""An ASGI app served by uvicorn on a free loopback port in a thread: the base of the test providers."""

from __future__ import annotations

import socket
import threading
import time
from typing import Self

import uvicorn
from starlette.types import ASGIApp


class ThreadedServer:
    """Serves ``app`` on 127.0.0.1 from :meth:`start` until :meth:`stop`; a context manager.

    Args:
        app: The application.
        name: What to call it when it fails to start.
    """

    def __init__(self, app: ASGIApp, name: str) -> None:
        self._name = name
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio", http="h11")
        )
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self) -> Self:
        """Serve until :meth:`stop`."""
        self._thread.start()
        while not self._uvicorn.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self._name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
