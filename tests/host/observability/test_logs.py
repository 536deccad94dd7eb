"""Structured logs: one JSON event a line with execution and trace ids, secrets masked, read by synthral logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from synthral.observability import tracing
from synthral.observability.logs import JsonFormatter, execution_scope, follow, matches, node_scope
from synthral.security.redact import process_redactor


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("synthral.test")
    return logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, args, None, extra=extra)


def test_a_record_inside_an_execution_carries_its_ids_and_extras() -> None:
    with execution_scope("exec-1"), node_scope("fetch"):
        line = JsonFormatter().format(_record("fetched %d rows", 3, plugin="http==1.0"))
    event = orjson.loads(line)
    assert event["message"] == "fetched 3 rows"
    assert (event["execution_id"], event["node_id"], event["plugin"]) == ("exec-1", "fetch", "http==1.0")
    assert event["level"] == "info" and event["logger"] == "synthral.test" and event["ts"].endswith("+00:00")
    assert "\n" not in line
    outside = orjson.loads(JsonFormatter().format(_record("idle")))
    assert "execution_id" not in outside


def test_a_record_inside_a_span_carries_the_trace_and_span_ids() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(exporter=exporter)
    try:
        with tracing.span("work"):
            event = orjson.loads(JsonFormatter().format(_record("inside")))
            parent = tracing.traceparent()
    finally:
        tracing.shutdown_tracing()
    assert parent is not None
    _, trace_id, span_id, _ = parent.split("-")
    assert (event["trace_id"], event["span_id"]) == (trace_id, span_id)
    assert [span.name for span in exporter.get_finished_spans()] == ["work"]


def test_secrets_handed_to_steps_are_masked_in_the_message_extras_and_traceback() -> None:
    secret = "sk-live-0123456789abcdef"
    process_redactor.add(secret)
    try:
        raise ValueError(f"the server refused {secret}")
    except ValueError:
        logger = logging.getLogger("synthral.test")
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "call with %s failed", (secret,), sys.exc_info(),
            extra={"header": f"Bearer {secret}"},
        )  # fmt: skip
    line = JsonFormatter().format(record)
    assert secret not in line
    event = orjson.loads(line)
    assert "[REDACTED]" in event["message"] and "[REDACTED]" in event["header"]
    assert "ValueError" in event["exception"]


def test_the_filters_of_synthral_logs() -> None:
    event = {"level": "warning", "logger": "synthral.plugin.http", "execution_id": "e1"}
    assert matches(event, execution_id="e1", level="info", logger="synthral.plugin")
    assert not matches(event, execution_id="e2", level=None, logger=None)
    assert not matches(event, execution_id=None, level="error", logger=None)
    assert not matches(event, execution_id=None, level=None, logger="synthral.engine")


def test_following_picks_up_new_lines_and_a_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "synthral.jsonl"
    path.write_text('{"n": 1}\n{"n": 2}\n')
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        for line in follow(path, from_end_lines=1, keep_following=True, poll=0.02):
            seen.append(line)
            if len(seen) == 3 or stop.is_set():
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.2)
    with path.open("a") as handle:
        handle.write('{"n": 3}\n')
    time.sleep(0.2)
    path.rename(tmp_path / "synthral.jsonl.1")
    path.write_text('{"n": 4}\n')
    reader.join(timeout=10)
    stop.set()
    assert seen == ['{"n": 2}', '{"n": 3}', '{"n": 4}']


WORKFLOW = """
name: logged
nodes:
  - id: start
    type: core/set
    config: {values: {n: 1}}
edges: []
"""


@pytest.mark.slow
def test_synthral_run_writes_json_lines_and_synthral_logs_reads_them_by_execution(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "SYNTHRAL_HOME": str(home), "COLUMNS": "200"}
    (tmp_path / "flow.yaml").write_text(WORKFLOW)
    run = subprocess.run(
        [sys.executable, "-m", "synthral", "run", str(tmp_path / "flow.yaml"), "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    execution_id = orjson.loads(run.stdout)["execution"]["id"]
    lines = (home / "logs" / "synthral.jsonl").read_text().splitlines()
    events = [orjson.loads(line) for line in lines]
    ended = [e for e in events if e.get("execution_id") == execution_id and e.get("status") == "completed"]
    assert ended and ended[0]["logger"] == "synthral.engine.execution"

    shown = subprocess.run(
        [sys.executable, "-m", "synthral", "logs", "--execution", execution_id, "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert [orjson.loads(line)["execution_id"] for line in shown.stdout.splitlines()] == [execution_id] * len(ended)
    human = subprocess.run(
        [sys.executable, "-m", "synthral", "logs", "-n", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"[{execution_id}]" in human.stdout and "execution reached completed" in human.stdout

    bad = subprocess.run(
        [sys.executable, "-m", "synthral", "logs", "--level", "loud"], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "debug, info, warning or error" in bad.stderr
