from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synthral_sdk.testing import RunnerClient

SHOP = """<html><head><title>Widget shop</title></head><body><h1>Widgets</h1>
<a href="/item/s">Small widget</a> <a href="/item/l">Large widget</a></body></html>"""
ITEM = "<html><head><title>{name}</title></head><body><h1>{name}</h1><p>Price: {price}</p><a href='/'>back</a></body>"


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_GET(self) -> None:
            if self.path == "/item/s":
                body = ITEM.format(name="Small widget", price="10.00")
            elif self.path == "/item/l":
                body = ITEM.format(name="Large widget", price="25.00")
            else:
                body = SHOP
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    with RunnerClient("synthral-browser-agent", blob_root=tmp_path_factory.mktemp("blobs")) as client:
        yield client
