"""The demo: a durable workflow run over first-party plugins in their own venvs.

It installs the first-party plugins the workflow uses (once; later runs reuse them), serves a small site on
127.0.0.1 and runs the demo workflow (demo_workflow.yaml) on the embedded SQLite database:
fetch an article through the ``http`` plugin, reshape and route it with the built-in
``core`` nodes, fetch the scanned invoice it links to and read it with the
``ocr-tesseract`` plugin. Binary data crosses processes as blob references; every step is
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar, cast

import orjson
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table

from synthral.engine.loader import load_workflow
from synthral.engine.model import Workflow
from synthral.engine.worker import Worker
from synthral.errors import PluginAlreadyInstalled, RetryableError
from synthral.plugins.host import PluginHost
from synthral.plugins.registry import load_registry
from synthral.services.app import App, open_app
from synthral.services.workflows import ExecutionView, WorkflowService
from synthral.store.models import ExecutionStatus
from synthral_sdk.types import JSONObject

__all__ = ["render_text_image", "run_demo"]

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
def _serve_site() -> Iterator[str]:
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


async def _install_first_party(host: PluginHost, console: Console) -> None:
    """Install the first-party plugins the demo workflow uses (the catalog's others on request)."""
    used = _plugins_used(load_workflow(DEMO_WORKFLOW))
    for entry in load_registry().values():
        if entry.builtin or entry.path is None or entry.name not in used:
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
    """Run the demo workflow on the embedded database, print what happens, return the result."""
    out = console or Console(highlight=False, soft_wrap=True)
    async with open_app(local=True) as app:
        out.print(f"[bold]SynthralOS demo[/] — data in {app.settings.home} ({app.database.dialect})")
        await _install_first_party(app.plugins, out)
        workflow = load_workflow(DEMO_WORKFLOW)
        saved = await app.workflows.save(workflow)
        out.print(
            f"  [green]✓[/] saved workflow {saved.name!r} version {saved.version} "
            f"(plugins pinned: {', '.join(f'{k} {v}' for k, v in sorted(saved.plugin_versions.items()))})"
        )
        with _serve_site() as site:
            execution_id = await app.workflows.start(saved.workflow_id, {"url": f"{site}/api/article.json"})
            out.print(f"  [green]✓[/] started execution {execution_id}")
            worker = Worker(app.engine, concurrency=2, poll_interval=0.1)
            task = asyncio.create_task(worker.run())
            try:
                view = await _wait(app, execution_id)
            finally:
                worker.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        table = Table("step", "status", "attempt", "ms", "ran in")
        for step in view.steps:
            node_type = str(step["node_type"])
            plugin = node_type.split("/", maxsplit=1)[0]
            where = "the host" if plugin == "core" else f"plugin {plugin} (own venv)"
            table.add_row(
                str(step["node_id"]),
                str(step["status"]),
                str(step["attempt"]),
                f"{step['duration_ms']:.1f}" if step["duration_ms"] is not None else "",
                where,
            )
        out.print(table)
        if view.status != ExecutionStatus.COMPLETED:
            raise RetryableError(
                f"the demo run ended {view.status}: {view.execution.get('error_message')}; "
                f"see 'synthral executions show {execution_id}'"
            )
        result = cast(JSONObject, cast(JSONObject, view.execution["output"])["result"])["data"]
        out.print("  [green]✓[/] result:")
        for key, value in cast(JSONObject, result).items():
            text = str(value).replace("\n", " / ")
            out.print(f"      {key}: {text}")
        out.print(f"  every step is recorded: synthral executions show {execution_id}")
        return cast(JSONObject, result)


async def _wait(app: App, execution_id: str) -> ExecutionView:
    while True:
        view = await app.workflows.execution(execution_id)
        if view.status in ExecutionStatus.TERMINAL:
            return view
        await asyncio.sleep(0.05)


async def load_demo_workflows(
    workflows: WorkflowService, *, workspace_id: str | None = None, console: Console | None = None
) -> list[str]:
    """Install the demo's first-party plugins if missing, save the demo workflow into ``workspace_id``.

    Returns the names saved (None as the workspace: the local workflows).
    """
    await _install_first_party(workflows.plugins, console or Console(quiet=True))
    saved = await workflows.save(load_workflow(DEMO_WORKFLOW), workspace_id=workspace_id)
    return [saved.name]
