from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from synthral_sdk.testing import RunnerClient


class Site:
    url: ClassVar[str] = ""
    hits: ClassVar[Counter[str]] = Counter()


def page(n: int) -> str:
    links = "".join(f'<a href="/p/{c}">p{c}</a>' for c in range(3 * n + 1, 3 * n + 4) if c < 40)
    body = f"<span class='price'>{n}.50</span>{links}<a href='/skip/1'>x</a>"
    return f"<html><head><title>Page {n}</title></head><body>{body}</body></html>"


@pytest.fixture(scope="module")
def site() -> Iterator[type[Site]]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_GET(self) -> None:
            Site.hits[self.path] += 1
            if self.path == "/robots.txt":
                body = "User-agent: *\nDisallow: /private\n"
            elif self.path.startswith("/p/"):
                body = page(int(self.path[3:]))
            else:
                body = "<html><title>other</title><a href='/private/a'>private</a></html>"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Site.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Site
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    spiders = Path(__file__).parent / "spiders"
    with RunnerClient(
        "synthral-scrape-scrapy",
        blob_root=tmp_path_factory.mktemp("blobs"),
        env={"SYNTHRAL_SCRAPY_SPIDERS": str(spiders)},
    ) as client:
        yield client
