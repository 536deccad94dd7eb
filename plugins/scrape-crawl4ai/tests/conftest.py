from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from synthral_sdk.testing import RunnerClient


class Site:
    url: ClassVar[str] = ""
    hits: ClassVar[Counter[str]] = Counter()


def page(n: int) -> str:
    links = "".join(f'<a href="/doc/{c}">doc {c}</a> ' for c in (2 * n + 1, 2 * n + 2) if c < 15)
    filler = " ".join(f"Sentence {k} of document {n} explains one more detail of the product." for k in range(40))
    script = f"document.getElementById('body').innerHTML = '<h1>Doc {n}</h1><p>rendered text {n}. {filler}</p>';"
    body = f"<div id='body'></div>{links}<a href='/skip/x'>s</a><script>{script}</script>"
    return f"<html><head><title>Doc {n}</title></head><body>{body}</body></html>"


@pytest.fixture(scope="module")
def site() -> Iterator[type[Site]]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_GET(self) -> None:
            Site.hits[self.path] += 1
            if self.path == "/robots.txt":
                body, kind = "User-agent: *\nDisallow: /private\n", "text/plain"
            elif self.path.startswith("/doc/"):
                body, kind = page(int(self.path[5:])), "text/html"
            else:
                body, kind = "<html><title>other</title><p>other</p></html>", "text/html"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
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
    data = tmp_path_factory.mktemp("data")
    with RunnerClient(
        "synthral-scrape-crawl4ai", blob_root=tmp_path_factory.mktemp("blobs"), env={"SYNTHRAL_PLUGIN_DATA": str(data)}
    ) as client:
        yield client
