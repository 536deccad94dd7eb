"""The demo: a durable workflow run over first-party plugins in their own venvs.

It installs the registry's plugins (once; later runs reuse them), serves a small site on
127.0.0.1 and runs the demo workflow on the embedded SQLite database: fetch an article
through the ``http`` plugin, reshape and route it with the built-in ``core`` nodes, fetch
the scanned invoice it links to and read it with the ``ocr-tesseract`` plugin. Binary data
crosses processes as blob references; every step is recorded.
"""

from __future__ import annotations

from typing import cast

from rich.console import Console
from rich.table import Table

from synthral.config import Settings
from synthral.engine.loader import load_workflow
from synthral.errors import RetryableError
from synthral.runtime import HostRuntime
from synthral.services.demo import DEMO_WORKFLOW, install_first_party, serve_demo_site
from synthral.store.tables import ExecutionStatus
from synthral_sdk.types import JSONObject

__all__ = ["run_demo"]


async def run_demo(settings: Settings, *, console: Console | None = None) -> JSONObject:
    """Run the demo workflow on the embedded database, print what happens, return the result."""
    out = console or Console(highlight=False, soft_wrap=True)
    async with HostRuntime(settings, worker=True, local=True, concurrency=2, poll_interval=0.1) as runtime:
        app = runtime.app
        out.print(f"[bold]SynthralOS demo[/] — data in {app.settings.home} ({app.database.dialect})")
        await install_first_party(app.plugins, out)
        workflow = load_workflow(DEMO_WORKFLOW)
        saved = await app.workflows.save(workflow)
        out.print(
            f"  [green]✓[/] saved workflow {saved.name!r} version {saved.version} "
            f"(plugins pinned: {', '.join(f'{k} {v}' for k, v in sorted(saved.plugin_versions.items()))})"
        )
        with serve_demo_site() as site:
            execution_id = await app.workflows.start(saved.workflow_id, {"url": f"{site}/api/article.json"})
            out.print(f"  [green]✓[/] started execution {execution_id}")
            view = await runtime.wait_for(execution_id)
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
