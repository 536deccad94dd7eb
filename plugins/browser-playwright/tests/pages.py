"""Local pages for browser tests: a form, a login that sets a cookie, JavaScript content, a download."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORM = """<html><head><title>Order</title></head><body>
<form action="/submit" method="get"><input name="who" id="who"><select name="size" id="size">
<option value="s">S</option><option value="l">L</option></select><button id="go" type="submit">Go</button></form>
<a id="file" href="/file.csv" download>file</a><img src="/pixel.png"></body></html>"""
JS = """<html><head><title>JS</title></head><body><div id="app"></div><script>
setTimeout(() => { document.getElementById('app').innerHTML = '<p class="late">rendered by script</p>'; }, 200);
</script></body></html>"""


@dataclass
class Pages:
    url: str
    hits: Counter[str] = field(default_factory=Counter)


class _Handler(BaseHTTPRequestHandler):
    pages: Pages

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def _send(self, body: str, content_type: str = "text/html", extra: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        self.pages.hits[path] += 1
        if path == "/form":
            self._send(FORM)
        elif path == "/submit":
            self._send(f"<html><title>Done</title><body><p id='echo'>{query}</p></body></html>")
        elif path == "/js":
            self._send(JS)
        elif path == "/login":
            self._send(
                "<html><body><script>localStorage.setItem('token', 'abc');</script><p>in</p></body></html>",
                extra={"Set-Cookie": "session=s3cr3t; Path=/"},
            )
        elif path == "/whoami":
            self._send(f"<html><body><p id='me'>{self.headers.get('cookie', 'nobody')}</p></body></html>")
        elif path == "/file.csv":
            self._send("a,b\n1,2\n", "text/csv", {"Content-Disposition": 'attachment; filename="file.csv"'})
        elif path == "/hostile":  # a page that pulls from elsewhere: ?to=host:port
            to = query.removeprefix("to=")
            self._send(
                f"<html><body><img src='http://{to}/pixel.png'><script>fetch('http://{to}/file.csv')"
                ".catch(() => {}); document.title = 'hostile';</script></body></html>"
            )
        elif path == "/pixel.png":
            self._send("png", "image/png")
        else:
            self._send("<p>blank</p>")


@contextmanager
def serve() -> Iterator[Pages]:
    pages = Pages("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"pages": pages}))
    server.daemon_threads = True
    pages.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield pages
    finally:
        server.shutdown()
        server.server_close()
