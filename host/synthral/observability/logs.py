"""Structured logs: one JSON object a line, with the execution and trace ids of the moment.

Every ``synthral`` process that runs work (``serve``, ``worker``, ``scheduler``, ``run``)
appends its records to ``$SYNTHRAL_HOME/logs/synthral.jsonl`` (rotated at 20 MB, five files
kept), and to stderr as JSON too when ``SYNTHRAL_LOG_FORMAT=json``. Secret values the process
has handed to a step are masked (:data:`synthral.security.redact.process_redactor`) in the
message, the traceback and every extra field. ``synthral logs`` reads and follows the file.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from synthral.observability.tracing import current_ids
from synthral.security.redact import RedactingFilter, process_redactor

__all__ = [
    "LOG_FILE",
    "JsonFormatter",
    "current_execution",
    "execution_scope",
    "follow",
    "install_json_logs",
    "log_file",
    "matches",
    "node_scope",
]

LOG_FILE: Final = "synthral.jsonl"
_ROTATE_BYTES: Final = 20 * 1024 * 1024
_ROTATE_KEEP: Final = 5

_execution: contextvars.ContextVar[str | None] = contextvars.ContextVar("synthral_execution", default=None)
_node: contextvars.ContextVar[str | None] = contextvars.ContextVar("synthral_node", default=None)

# Attributes every LogRecord has; anything else was passed in ``extra=`` and is kept.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


@contextlib.contextmanager
def execution_scope(execution_id: str, node_id: str | None = None) -> Iterator[None]:
    """Tie the log records made inside the block to an execution (and a node)."""
    token = _execution.set(execution_id)
    node_token = _node.set(node_id) if node_id is not None else None
    try:
        yield
    finally:
        if node_token is not None:
            _node.reset(node_token)
        _execution.reset(token)


@contextlib.contextmanager
def node_scope(node_id: str) -> Iterator[None]:
    """Tie the log records made inside the block to a node of the current execution."""
    token = _node.set(node_id)
    try:
        yield
    finally:
        _node.reset(token)


def current_execution() -> tuple[str | None, str | None]:
    """The execution and node the running code works for, as the engine set them."""
    return _execution.get(), _node.get()


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: ``ts``, ``level``, ``logger``, ``message``, ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's line (without the newline)."""
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        execution_id = getattr(record, "execution_id", None) or _execution.get()
        if execution_id is not None:
            event["execution_id"] = execution_id
        node_id = getattr(record, "node_id", None) or _node.get()
        if node_id is not None:
            event["node_id"] = node_id
        ids = current_ids()
        if ids is not None:
            event["trace_id"], event["span_id"] = ids
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in event:
                event[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        if process_redactor:
            event = process_redactor.value(event)
        return orjson.dumps(event, default=str).decode()


def log_file(home: Path) -> Path:
    """Where a home's structured log is written."""
    return home / "logs" / LOG_FILE


def install_json_logs(home: Path, *, stderr_json: bool = False, level: int = logging.INFO) -> Path:
    """Append JSON records to the home's log file (and stderr as JSON if asked); the file's path.

    Idempotent: a second call for the same file adds nothing.
    """
    path = log_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    synthral = logging.getLogger("synthral")
    if synthral.getEffectiveLevel() > level:
        for handler in root.handlers:  # the console keeps the threshold it had
            if handler.level == logging.NOTSET:
                handler.setLevel(root.getEffectiveLevel())
        synthral.setLevel(level)
    formatter = JsonFormatter()
    masking = RedactingFilter(process_redactor)
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        rotating = logging.handlers.RotatingFileHandler(
            path, maxBytes=_ROTATE_BYTES, backupCount=_ROTATE_KEEP, encoding="utf-8"
        )
        rotating.setLevel(level)
        rotating.setFormatter(formatter)
        rotating.addFilter(masking)
        root.addHandler(rotating)
    if stderr_json:
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.setFormatter(formatter)
    return path


def matches(event: dict[str, Any], *, execution_id: str | None, level: str | None, logger: str | None) -> bool:
    """Whether a log event passes ``synthral logs``' filters (level: at least this severe)."""
    if execution_id is not None and event.get("execution_id") != execution_id:
        return False
    if logger is not None and not str(event.get("logger", "")).startswith(logger):
        return False
    if level is not None:
        wanted = logging.getLevelName(level.upper())
        have = logging.getLevelName(str(event.get("level", "info")).upper())
        if isinstance(wanted, int) and isinstance(have, int) and have < wanted:
            return False
    return True


def follow(path: Path, *, from_end_lines: int | None, keep_following: bool, poll: float = 0.25) -> Iterator[str]:
    """The file's lines (the last ``from_end_lines`` if given), then new ones as they come.

    Survives rotation: when the file is replaced or truncated it is opened again from the
    start.
    """
    while not path.exists():
        if not keep_following:
            return
        time.sleep(poll)
    handle = path.open("r", encoding="utf-8", errors="replace")
    try:
        lines = handle.readlines()
        if from_end_lines is not None:
            lines = lines[-from_end_lines:] if from_end_lines > 0 else []
        yield from (line.rstrip("\n") for line in lines)
        identity = path.stat().st_ino
        pending = ""
        while keep_following:
            chunk = handle.readline()
            if chunk:
                pending += chunk
                if pending.endswith("\n"):
                    yield pending.rstrip("\n")
                    pending = ""
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                time.sleep(poll)
                continue
            if stat.st_ino != identity or stat.st_size < handle.tell():
                handle.close()
                handle = path.open("r", encoding="utf-8", errors="replace")
                identity = stat.st_ino
                continue
            time.sleep(poll)
    finally:
        handle.close()
