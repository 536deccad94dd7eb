"""The exposition: every named series, bounded labels, scrape-time gauges, several processes summed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from synthral.observability import hooks
from synthral.observability.metrics import ProcessSample, ScrapeSnapshot, render

REQUIRED = {
    "workflow_execution",
    "connector_request_latency_seconds",
    "connector_error",
    "agent_task_latency_ms",
    "rag_query_latency_ms",
    "ocr_job_latency_ms",
    "scrape_job_latency_ms",
    "workflow_queue_depth",
    "workflow_queue_oldest_age_seconds",
    "step_duration_seconds",
    "step_retries",
    "plugin_process_restarts",
    "plugin_process_rss_bytes",
    "webhook_deliveries",
    "llm_tokens",
    "llm_cost_usd",
}


def _families(text: bytes) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def _sample(text: bytes, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


def test_every_series_the_product_names_is_exposed() -> None:
    snapshot = ScrapeSnapshot(processes=[ProcessSample("noop", "1.0.0", True, 2, 12345)])
    families = _families(render(snapshot))
    assert set(families) >= REQUIRED, sorted(REQUIRED - set(families))


def test_call_sites_record_with_bounded_labels() -> None:
    before = render()
    with hooks.plugin_call("connector", "slack", "slack", "post_message", None):
        pass
    try:
        with hooks.plugin_call("connector", "slack", "slack", "post_message", None):
            raise RuntimeError("the API said no")
    except RuntimeError:
        pass
    with hooks.plugin_call("ocr_engine", "ocr-tesseract", "tesseract", "extract", None):
        pass
    with hooks.plugin_call("node", "browser", "scrape", "run", "scrape"):
        pass
    hooks.webhook_delivery("rejected", "signature")
    hooks.llm_usage("gpt-test", 10, 5, 0.02)
    hooks.execution_ended("completed")
    after = render()
    slack = {"slug": "slack/slack", "action": "post_message"}
    count = "connector_request_latency_seconds_count"
    assert _value(after, count, **slack) - _value(before, count, **slack) == 2
    assert _value(after, "connector_error_total", **slack) - _value(before, "connector_error_total", **slack) == 1
    assert _sample(after, "ocr_job_latency_ms_count", engine="ocr-tesseract/tesseract") >= 1
    assert _sample(after, "scrape_job_latency_ms_count", engine="browser/scrape") >= 1
    assert _sample(after, "webhook_deliveries_total", outcome="rejected", reason="signature") >= 1
    assert _sample(after, "llm_tokens_total", model="gpt-test", direction="input") >= 10
    assert _sample(after, "llm_cost_usd_total", model="gpt-test") >= 0.02
    assert _sample(after, "workflow_execution_total", status="completed") >= 1
    for family in text_string_to_metric_families(after.decode()):
        for sample in family.samples:
            assert not ({"execution_id", "workflow_id", "user_id", "id"} & set(sample.labels)), sample


def _value(text: bytes, name: str, **labels: str) -> float:
    return _sample(text, name, **labels) if _has(text, name, **labels) else 0.0


def _has(text: bytes, name: str, **labels: str) -> bool:
    try:
        _sample(text, name, **labels)
    except AssertionError:
        return False
    return True


def test_scrape_time_gauges_carry_the_snapshot() -> None:
    text = render(
        ScrapeSnapshot(
            queue_depth=3, oldest_queued_age_seconds=42.5, running=2, waiting=1,
            processes=[ProcessSample("noop", "1.0.0", False, 4, None)],
        )
    )  # fmt: skip
    assert _sample(text, "workflow_queue_depth") == 3
    assert _sample(text, "workflow_queue_oldest_age_seconds") == 42.5
    assert _sample(text, "plugin_process_restarts", plugin="noop", version="1.0.0") == 4
    assert _sample(text, "plugin_process_up", plugin="noop", version="1.0.0") == 0
    assert not _has(text, "plugin_process_rss_bytes", plugin="noop")


_CHILD = textwrap.dedent(
    """
    from synthral.observability import hooks
    for _ in range({n}):
        hooks.execution_ended("completed")
    hooks.step_retried("noop/echo")
    """
)


def test_several_processes_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for n in (2, 5):
        subprocess.run([sys.executable, "-c", _CHILD.format(n=n)], env=env, check=True, timeout=120)
    scrape = subprocess.run(
        [sys.executable, "-c", "import sys; from synthral.config import Settings; "
         "from synthral.observability.metrics import render; "
         "sys.stdout.buffer.write(render(multiprocess_dir=Settings.load().observability.metrics_dir))"],
        env=env, check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    assert _sample(scrape.stdout, "workflow_execution_total", status="completed") == 7
    assert _sample(scrape.stdout, "step_retries_total", node_type="noop/echo") == 2


def test_the_shipped_grafana_dashboard_asks_only_for_series_that_exist() -> None:
    import json
    import re

    dashboard = json.loads((Path(__file__).parents[3] / "deploy" / "grafana" / "synthralos-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    known = set(_families(render(ScrapeSnapshot(processes=[ProcessSample("p", "1", True, 0, 1)]))))
    suffixes = ("_bucket", "_total", "_count", "_sum")
    for expr in exprs:
        for name in re.findall(r"\b([a-z_]+(?:_seconds|_ms|_total|_bytes|_depth|_restarts|_running|_usd_total)"
                               r"(?:_bucket)?)\b", expr):  # fmt: skip
            base = name
            for suffix in suffixes:
                base = base.removesuffix(suffix)
            assert base in known or name in known, f"{name} in {expr!r} is not exposed"
