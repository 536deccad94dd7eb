"""A local stand-in for a Wazuh agent's syslog input: UDP datagrams and octet-counted TCP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class SyslogListener:
    """Collects every message received on ``port`` (UDP and TCP on the same number)."""

    port: int
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            return list(self.messages)


def _tcp_frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        frames.append(rest[:size])
        data = rest[size:]
    return frames


@pytest.fixture
def siem() -> Iterator[SyslogListener]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen()
    listener = SyslogListener(port)
    stop = threading.Event()

    def serve_udp() -> None:
        udp.settimeout(0.1)
        while not stop.is_set():
            try:
                data, _ = udp.recvfrom(65535)
            except TimeoutError:
                continue
            with listener.lock:
                listener.messages.append(data)

    def serve_tcp() -> None:
        tcp.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except TimeoutError:
                continue
            chunks = []
            with conn:
                while chunk := conn.recv(65535):
                    chunks.append(chunk)
            with listener.lock:
                listener.messages.extend(_tcp_frames(b"".join(chunks)))

    threads = [threading.Thread(target=serve_udp, daemon=True), threading.Thread(target=serve_tcp, daemon=True)]
    for thread in threads:
        thread.start()
    yield listener
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    udp.close()
    tcp.close()
