"""``synthral logs``: read and follow the structured log of this home's processes."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer

from synthral.cli.common import err_console
from synthral.config import Settings
from synthral.observability.logs import follow, log_file, matches

__all__ = ["logs"]


def logs(
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new records as they come.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Start with the last N records.")] = 50,
    execution: Annotated[str | None, typer.Option(help="Only records of this execution id.")] = None,
    level: Annotated[
        str | None, typer.Option(help="Only records at least this severe: debug, info, warning, error.")
    ] = None,
    logger: Annotated[str | None, typer.Option(help="Only records of this logger and its children.")] = None,
    raw: Annotated[bool, typer.Option("--json", help="Print the JSON lines as written.")] = False,
) -> None:
    """Print the structured log ($SYNTHRAL_HOME/logs/synthral.jsonl) of serve, worker, scheduler and run."""
    if level is not None and level.lower() not in ("debug", "info", "warning", "error", "critical"):
        err_console.print(f"error: --level {level!r} is not a level; use debug, info, warning or error")
        raise typer.Exit(2)
    path = log_file(Settings.load().home)
    if not path.exists() and not follow_:
        err_console.print(f"no log yet at {path}; it is written by synthral serve, worker, scheduler and run")
        raise typer.Exit(1)
    filtered = execution is not None or level is not None or logger is not None
    try:
        for line in follow(path, from_end_lines=None if filtered else lines, keep_following=follow_):
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line cut by a crash mid-write
            if not isinstance(event, dict) or not matches(event, execution_id=execution, level=level, logger=logger):
                continue
            sys.stdout.write((line if raw else _human(event)) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return


def _human(event: dict[str, object]) -> str:
    parts = [str(event.get("ts", "")), str(event.get("level", "")).upper(), str(event.get("logger", ""))]
    if event.get("execution_id"):
        parts.append(f"[{event['execution_id']}{'/' + str(event['node_id']) if event.get('node_id') else ''}]")
    text = " ".join(parts) + ": " + str(event.get("message", ""))
    if event.get("exception"):
        text += "\n" + str(event["exception"])
    return text
