"""The demo: first-party plugins in their own venvs, called end to end.

It installs the registry's plugins (once; later runs reuse them), serves a small site on
127.0.0.1, fetches a JSON document and an image through the ``http`` plugin, reshapes and
routes the data with the built-in ``core`` nodes, renders a scanned "invoice" and reads it
with the ``ocr-tesseract`` plugin. Binary data crosses processes as blob references.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, cast

import orjson
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table
from synthral_sdk.types import JSONObject

from synthral.config import Settings
from synthral.errors import PluginAlreadyInstalled
from synthral.plugins.host import PluginHost
from synthral.plugins.proxy import RemoteCapability
from synthral.plugins.registry import load_registry

__all__ = ["render_text_image", "run_demo"]

ARTICLE: JSONObject = {
    "title": "SynthralOS runs plugins in their own venvs",
    "author": {"name": "Ada"},
    "tags": ["automation", "plugins"],
    "words": 812,
}
INVOICE_LINES = ["INVOICE 2041", "Customer: Lovelace Ltd", "Total due: 42.00 EUR"]


def render_text_image(lines: list[str], *, size: int = 44) -> bytes:
    """A white page with black text, as PNG bytes (Pillow's built-in scalable font)."""
    font = ImageFont.load_default(size=size)
    image = Image.new("L", (1100, 120 + len(lines) * int(size * 1.8)), color=255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((60, 60 + row * int(size * 1.8)), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class _Site(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        content_type, body = self.routes.get(self.path, ("text/plain", b"not found"))
        self.send_response(200 if self.path in self.routes else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args  # keep the demo's output readable


@contextmanager
def _serve_site() -> Iterator[str]:
    _Site.routes = {
        "/api/article.json": ("application/json", orjson.dumps(ARTICLE)),
        "/scan.png": ("image/png", render_text_image(INVOICE_LINES)),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def _install_first_party(host: PluginHost, console: Console) -> None:
    for entry in load_registry().values():
        if entry.builtin or entry.path is None:
            continue
        installed = {info.version for info in host.plugins() if info.name == entry.name}
        if entry.version in installed:
            console.print(f"  [dim]·[/] {entry.name} {entry.version} is installed already")
            continue
        started = time.perf_counter()
        with suppress(PluginAlreadyInstalled):  # another process installed it meanwhile
            await host.install(entry.path)
        console.print(
            f"  [green]✓[/] installed {entry.name} {entry.version} in its own venv "
            f"({time.perf_counter() - started:.1f} s)"
        )


async def run_demo(*, console: Console | None = None) -> JSONObject:
    """Run the demo, print what happens and return the results (for tests)."""
    out = console or Console(highlight=False, soft_wrap=True)
    host = PluginHost(Settings.from_env())
    results: JSONObject = {}
    timings: list[tuple[str, float, str]] = []

    async def step(label: str, ref: str, call: Callable[[], Awaitable[JSONObject]]) -> JSONObject:
        started = time.perf_counter()
        output = await call()
        handle = host.resolve(ref)
        where = f"pid {handle.process.pid}" if isinstance(handle, RemoteCapability) else "in the host"
        timings.append((label, (time.perf_counter() - started) * 1000, where))
        return output

    try:
        out.print(f"[bold]SynthralOS demo[/] — data in {host.settings.home}")
        await _install_first_party(host, out)
        with _serve_site() as site:
            fetched = await step(
                "fetch JSON", "http/request",
                lambda: host.invoke("http/request", {"url": f"{site}/api/article.json"}),
            )  # fmt: skip
            article = cast(JSONObject, fetched["json"])
            out.print(f"  [green]✓[/] http/request GET /api/article.json → {fetched['status']}: {article['title']!r}")
            summary = await step(
                "reshape", "core/transform",
                lambda: host.invoke(
                    "core/transform", {"data": article},
                    config={"mapping": {"headline": "title", "by": "author.name", "length": "words"}},
                ),
            )  # fmt: skip
            out.print(f"  [green]✓[/] core/transform → {orjson.dumps(summary['data']).decode()}")
            routed = await step(
                "route", "core/if",
                lambda: host.invoke(
                    "core/if", {"data": summary["data"]},
                    config={"conditions": [{"path": "length", "op": "gt", "value": 500}]},
                ),
            )  # fmt: skip
            out.print(f"  [green]✓[/] core/if length > 500 → branch {routed['branch']!r}")
            image = await step(
                "fetch image", "http/request",
                lambda: host.invoke("http/request", {"url": f"{site}/scan.png"}),
            )  # fmt: skip
            blob = cast(JSONObject, image["blob"])
            out.print(
                f"  [green]✓[/] http/request GET /scan.png → blob {str(blob['$blob'])[:19]}… ({blob['size']} bytes)"
            )
            text = await step(
                "OCR", "ocr-tesseract/tesseract",
                lambda: host.invoke("ocr-tesseract/tesseract", {"document": blob}),
            )  # fmt: skip
            words = [
                word
                for page in cast(list[JSONObject], text["pages"])
                for block in cast(list[JSONObject], page["blocks"])
                for word in cast(list[JSONObject], block["words"])
            ]
            confidence = sum(cast(float, w["confidence"]) for w in words) / max(1, len(words))
            out.print(f"  [green]✓[/] ocr-tesseract read {len(words)} words (mean confidence {confidence:.2f}):")
            for line in str(text["text"]).strip().splitlines():
                if line.strip():
                    out.print(f"      {line}")
            results = {
                "article": article,
                "summary": summary["data"],
                "branch": routed["branch"],
                "ocr_text": text["text"],
                "ocr_words": len(words),
            }
        table = Table("step", "ms", "ran in")
        for label, millis, where in timings:
            table.add_row(label, f"{millis:.1f}", where)
        out.print(table)
        return results
    finally:
        await host.close()
