"""A local test site on 127.0.0.1: articles, a link graph, robots.txt, a flaky page, redirects."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE = """<!doctype html><html lang="en"><head><title>Widgets for sale</title>
<meta name="description" content="All about widgets">
<meta property="og:title" content="Widgets OG">
<link rel="canonical" href="/article">
<script type="application/ld+json">{"@type": "Product", "name": "Widget"}</script>
</head><body>
<nav><a href="/">Home</a> <a href="/page/1">Page 1</a> <a href="https://elsewhere.example/x">Out</a></nav>
<article><h1 id="headline">The best widgets</h1>
<p>Widgets are small mechanical devices. They have been made for many years in many places.
A good widget lasts long and works well in every season, which is why people buy them.</p>
<p>Our widgets come in <b>three colours</b> and two sizes. Each one is tested by hand.</p>
<div class="price-box"><span class="price" data-currency="EUR">19.99</span></div>
<table><tr><th>Size</th><th>Weight</th></tr><tr><td>S</td><td>10 g</td></tr><tr><td>L</td><td>25 g</td></tr></table>
</article><script>var hidden = "not text";</script></body></html>"""

HEALED = ARTICLE.replace(
    '<div class="price-box"><span class="price" data-currency="EUR">19.99</span></div>',
    '<section class="offer"><em class="amount" data-currency="EUR">19.99</em></section>',
)


@dataclass
class Site:
    url: str
    hits: Counter[str] = field(default_factory=Counter)


class _Handler(BaseHTTPRequestHandler):
    site: Site
    flaky_left: dict[str, int]

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8", **headers: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path
        self.site.hits[path] += 1
        self.site.hits[f"ua:{self.headers.get('user-agent', '')[:20]}"] += 1
        if path == "/robots.txt":
            self._send(200, "User-agent: *\nDisallow: /private\n", "text/plain")
        elif path == "/article":
            self._send(200, ARTICLE)
        elif path == "/healed":
            self._send(200, HEALED)
        elif path == "/private/secret":
            self._send(200, "<p>secret</p>")
        elif path.startswith("/page/"):
            n = int(path.rsplit("/", 1)[1])
            links = "".join(f'<a href="/page/{m}">p{m}</a>' for m in (n + 1, n + 2, 1) if m < 50)
            self._send(
                200, f"<html><head><title>Page {n}</title></head><body><p>page {n} text</p>{links}</body></html>"
            )
        elif path == "/flaky":
            left = self.flaky_left.get(path, 1)
            self.flaky_left[path] = left - 1
            if left > 0:
                self._send(503, "busy", retry_after="0")
            else:
                self._send(200, "<title>Flaky</title><p>finally</p>")
        elif path == "/redirect":
            self._send(302, "", location="/article")
        elif path == "/big":
            self._send(200, "<p>" + "x" * 200_000 + "</p>")
        elif path == "/image.png":
            self._send(200, "\x89PNG", "image/png")
        elif path == "/captcha":
            self._send(403, "<p>Please solve the captcha</p>")
        else:
            self._send(404, "<p>not found</p>")


@contextmanager
def serve() -> Iterator[Site]:
    site = Site("")
    handler = type("Handler", (_Handler,), {"site": site, "flaky_left": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
