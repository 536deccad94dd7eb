from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from synthral_sdk.testing import RunnerClient

JS_PAGE = """<html><head><title>Shop</title></head><body><div id="root"></div><div class="ad">buy now</div><script>
setTimeout(() => {
  const items = [1, 2, 3].map(n => `<li class="item" data-id="${n}"><a href="/item/${n}">item ${n}</a></li>`);
  document.getElementById('root').innerHTML = '<h1>Items</h1><ul>' + items.join('') + '</ul>';
}, 150);
</script></body></html>"""


class Site:
    url = ""
    hits: ClassVar[Counter[str]] = Counter()


@pytest.fixture(scope="module")
def site() -> Iterator[type[Site]]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_GET(self) -> None:
            Site.hits[self.path] += 1
            if self.path == "/robots.txt":
                body, kind = "User-agent: *\nDisallow: /private\n", "text/plain"
            elif self.path.startswith("/item/"):
                body, kind = (
                    f"<html><title>Item {self.path[6:]}</title><body><p>item page</p></body></html>",
                    "text/html",
                )
            else:
                body, kind = JS_PAGE, "text/html"
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
    """One plugin process, so one browser, for the module."""
    with RunnerClient("synthral-scrape-playwright", blob_root=tmp_path_factory.mktemp("blobs")) as client:
        yield client
