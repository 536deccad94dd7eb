"""What the demo needs: its workflow, the first-party plugins, and a small site to read.

The demo (``synthral demo``, :mod:`synthral.demo`; ``serve --demo`` loads the workflow only)
runs demo_workflow.yaml over the first-party plugins it uses and this module's site on
127.0.0.1.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import orjson
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console

from synthral.engine.loader import load_workflow
from synthral.engine.model import Workflow
from synthral.errors import PluginAlreadyInstalled
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.registry import load_registry
from synthral.services.workflows import WorkflowService
from synthral_sdk.types import JSONObject

__all__ = ["DEMO_WORKFLOW", "install_first_party", "load_demo_workflows", "render_text_image", "serve_demo_site"]

ARTICLE: JSONObject = {
    "title": "SynthralOS runs plugins in their own venvs",
    "author": {"name": "Ada"},
    "tags": ["automation", "plugins"],
    "words": 812,
}
DEMO_WORKFLOW = Path(__file__).with_name("demo_workflow.yaml")
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
def serve_demo_site() -> Iterator[str]:
    """Serve the demo's article and scanned invoice on 127.0.0.1; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Site.routes = {
        "/api/article.json": ("application/json", orjson.dumps({**ARTICLE, "image_url": f"{base}/scan.png"})),
        "/scan.png": ("image/png", render_text_image(INVOICE_LINES)),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def _plugins_used(workflow: Workflow) -> set[str]:
    """The plugins a workflow's nodes come from (``http`` for ``http/request``)."""
    return {node.type.split("/", maxsplit=1)[0] for node in workflow.nodes}


async def install_first_party(host: PluginHost, console: Console) -> None:
    """Install the first-party plugins the demo workflow uses (the catalog's others on request), saying so."""
    used = _plugins_used(load_workflow(DEMO_WORKFLOW))
    for entry in load_registry(host.settings.plugins.registry).values():
        if entry.builtin or entry.path is None or entry.name not in used:
            continue
        installed = {info.version for info in host.plugins() if info.name == entry.name}
        if entry.version in installed:
            console.print(f"  [dim]·[/] {entry.name} {entry.version} is installed already")
            continue
        started = time.perf_counter()
        granted = "nothing"
        with suppress(PluginAlreadyInstalled):  # another process installed it meanwhile
            # First-party plugins from this checkout: granted what they declare, and it is shown.
            manifest = await host.install(entry.path, grant=GrantRequest(items=["all"]))
            granted = "; ".join(manifest.granted().describe()) or "nothing"
        console.print(
            f"  [green]✓[/] installed {entry.name} {entry.version} in its own venv "
            f"({time.perf_counter() - started:.1f} s), granted: {granted}"
        )


async def load_demo_workflows(
    workflows: WorkflowService, *, workspace_id: str | None = None, console: Console | None = None
) -> list[str]:
    """Install the demo's first-party plugins if missing, save the demo workflow into ``workspace_id``.

    Returns the names saved (None as the workspace: the local workflows).
    """
    await install_first_party(workflows.plugins, console or Console(quiet=True))
    saved = await workflows.save(load_workflow(DEMO_WORKFLOW), workspace_id=workspace_id)
    return [saved.name]
