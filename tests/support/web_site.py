"""A local web site for scraping tests and benchmarks: N linked pages, robots.txt, a changing page, proxies.

``/p/<i>`` for i in 0..N-1 links to its ten children ``/p/<10i+1>`` … ``/p/<10i+10>``, so a
crawl from ``/p/0`` finds every page in a few levels. Each page has a title, a paragraph
and a price. ``/j/<i>`` is the same page written by a script. ``/watch`` serves whatever
:attr:`WebSite.watched` holds. Every request is counted by path (``hits``), and ``/_hits``
answers the counts as JSON when the site runs in its own process
(``python -m tests.support.web_site PORT N``).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

_FILLER = " ".join(f"word{n}" for n in range(150))


def page_html(index: int, pages: int) -> str:
    """The HTML of page ``index``."""
    children = "".join(
        f'<li><a href="/p/{c}">page {c}</a></li>' for c in range(10 * index + 1, 10 * index + 11) if c < pages
    )
    return (
        f"<!doctype html><html><head><title>Page {index}</title><meta name='description' content='page {index}'></head>"
        f"<body><h1>Page {index}</h1><p class='lead'>This is page number {index}. {_FILLER}</p>"
        f"<span class='price'>{index % 97}.99</span><ul>{children}</ul><a href='/private/x'>private</a></body></html>"
    )


def js_page_html(index: int, pages: int) -> str:
    """Page ``index`` whose heading, text and links a script writes (for browser engines)."""
    children = [c for c in range(10 * index + 1, 10 * index + 11) if c < pages]
    return (
        f"<!doctype html><html><head><title>JS page {index}</title></head><body><div id='app'></div><script>"
        f"const kids = {children};"
        "document.getElementById('app').innerHTML = "
        f"'<h1>JS page {index}</h1><p>Rendered page {index}. {_FILLER}</p>' + "
        "kids.map(k => `<a href=\"/j/${k}\">page ${k}</a>`).join(' ');"
        "</script></body></html>"
    )


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a crawl opens dozens of connections at once
    daemon_threads = True


class WebSite:
    """The site, served from a thread on 127.0.0.1 (a context manager)."""

    def __init__(self, pages: int = 200, port: int = 0) -> None:
        self.pages = pages
        self.hits: Counter[str] = Counter()
        self.watched = "<html><body><p id='news'>first news</p><p id='clock'>12:00:01</p></body></html>"
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with site._lock:
                    site.hits[path] += 1
                if path == "/robots.txt":
                    self._send(200, "User-agent: *\nDisallow: /private\n", "text/plain")
                elif path.startswith("/p/") and path[3:].isdigit() and int(path[3:]) < site.pages:
                    self._send(200, page_html(int(path[3:]), site.pages))
                elif path.startswith("/j/") and path[3:].isdigit() and int(path[3:]) < site.pages:
                    self._send(200, js_page_html(int(path[3:]), site.pages))
                elif path == "/watch":
                    self._send(200, site.watched)
                elif path == "/_hits":
                    with site._lock:
                        self._send(200, json.dumps(dict(site.hits)), "application/json")
                else:
                    self._send(404, "<p>not found</p>")

        self._server = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Self:
        """Serve until :meth:`stop`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    site = WebSite(pages=int(sys.argv[2]), port=int(sys.argv[1])).start()
    print(site.url, flush=True)
    threading.Event().wait()
