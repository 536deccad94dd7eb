"""Prometheus series: defined once here, recorded at the call sites, rendered by ``GET /metrics``.

Labels are bounded: statuses, node types, plugin and capability names, model names, never an
execution, workflow or user id. With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn workers
or ``synthral worker`` processes on one machine), ``prometheus_client`` keeps the values in
memory-mapped files there and :func:`render`, given the folder from the settings, aggregates
every process's files; the directory
must be emptied when the service starts (``prometheus_client.multiprocess`` documents why).

Figures the database holds (queue depth, the oldest queued run) and the plugin processes'
state are read when the endpoint is scraped, by the caller of :func:`render`, and added as
gauges of the scraping process only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "AGENT_TASK_LATENCY",
    "CONNECTOR_ERRORS",
    "CONNECTOR_LATENCY",
    "CONTENT_TYPE",
    "LLM_COST",
    "LLM_TOKENS",
    "OBS_DROPPED",
    "OBS_SENT",
    "OCR_JOB_LATENCY",
    "PLUGIN_RPC_LATENCY",
    "RAG_QUERY_LATENCY",
    "REGISTRY",
    "SCRAPE_JOB_LATENCY",
    "STEP_DURATION",
    "STEP_RETRIES",
    "WEBHOOK_DELIVERIES",
    "WORKFLOW_EXECUTIONS",
    "ProcessSample",
    "ScrapeSnapshot",
    "render",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
"""This process's series (single-process mode); in multiprocess mode the files are the truth."""

_MS_BUCKETS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)
_S_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

WORKFLOW_EXECUTIONS = Counter(
    "workflow_execution",
    "Executions that reached an end or a wait, by the status reached.",
    ["status"],
    registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "step_duration_seconds",
    "Wall time of each step attempt, by node type and outcome.",
    ["node_type", "outcome"],
    buckets=_S_BUCKETS,
    registry=REGISTRY,
)
STEP_RETRIES = Counter(
    "step_retries", "Step attempts retried after a failure, by node type.", ["node_type"], registry=REGISTRY
)
PLUGIN_RPC_LATENCY = Histogram(
    "plugin_rpc_latency_seconds",
    "Round trip of an invoke to a plugin process, by plugin and capability kind.",
    ["plugin", "kind"],
    buckets=_S_BUCKETS,
    registry=REGISTRY,
)
CONNECTOR_LATENCY = Histogram(
    "connector_request_latency_seconds",
    "Connector action calls, by connector slug and action.",
    ["slug", "action"],
    buckets=_S_BUCKETS,
    registry=REGISTRY,
)
CONNECTOR_ERRORS = Counter(
    "connector_error",
    "Connector action calls that failed, by connector slug and action.",
    ["slug", "action"],
    registry=REGISTRY,
)
AGENT_TASK_LATENCY = Histogram(
    "agent_task_latency_ms",
    "Agent framework runs, by framework.",
    ["framework"],
    buckets=_MS_BUCKETS,
    registry=REGISTRY,
)
RAG_QUERY_LATENCY = Histogram(
    "rag_query_latency_ms",
    "Vector store calls, by vector store.",
    ["vector_db"],
    buckets=_MS_BUCKETS,
    registry=REGISTRY,
)
OCR_JOB_LATENCY = Histogram(
    "ocr_job_latency_ms", "OCR engine calls, by engine.", ["engine"], buckets=_MS_BUCKETS, registry=REGISTRY
)
SCRAPE_JOB_LATENCY = Histogram(
    "scrape_job_latency_ms",
    "Scraping and browser capability calls, by engine.",
    ["engine"],
    buckets=_MS_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries",
    "Webhook deliveries by outcome (accepted, rejected) and reason.",
    ["outcome", "reason"],
    registry=REGISTRY,
)
OBS_SENT = Counter(
    "obs_forward_sent",
    "Events the host forwarded to an obs plugin (langfuse, posthog, glitchtip, wazuh).",
    ["sink"],
    registry=REGISTRY,
)
OBS_DROPPED = Counter(
    "obs_forward_dropped",
    "Events not forwarded to an obs plugin, by reason (queue_full, not_installed, no_credentials, sink_error...).",
    ["sink", "reason"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "llm_tokens", "LLM tokens by model and direction (input, output).", ["model", "direction"], registry=REGISTRY
)
LLM_COST = Counter("llm_cost_usd", "LLM cost in US dollars by the price table, by model.", ["model"], registry=REGISTRY)


@dataclass(frozen=True)
class ProcessSample:
    """One plugin version's process as the scrape sees it."""

    plugin: str
    version: str
    running: bool
    restarts: int
    rss_bytes: int | None


@dataclass
class ScrapeSnapshot:
    """Figures read at scrape time: from the database and from this process's plugin host."""

    queue_depth: int = 0
    oldest_queued_age_seconds: float = 0.0
    running: int = 0
    waiting: int = 0
    processes: list[ProcessSample] = field(default_factory=list)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: ScrapeSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics())

    def _metrics(self) -> Iterator[Metric]:
        s = self.snapshot
        yield GaugeMetricFamily("workflow_queue_depth", "Executions queued and due now.", value=s.queue_depth)
        yield GaugeMetricFamily(
            "workflow_queue_oldest_age_seconds",
            "Age of the oldest queued execution (0 when none).",
            value=s.oldest_queued_age_seconds,
        )
        yield GaugeMetricFamily("workflow_executions_running", "Executions running now.", value=s.running)
        yield GaugeMetricFamily("workflow_executions_waiting", "Executions waiting for a signal.", value=s.waiting)
        restarts = GaugeMetricFamily(
            "plugin_process_restarts",
            "Unexpected exits of a plugin version's process since the host started.",
            labels=["plugin", "version"],
        )
        rss = GaugeMetricFamily(
            "plugin_process_rss_bytes", "Resident memory of a running plugin process.", labels=["plugin", "version"]
        )
        up = GaugeMetricFamily(
            "plugin_process_up", "1 while a plugin version's process runs.", labels=["plugin", "version"]
        )
        for p in s.processes:
            restarts.add_metric([p.plugin, p.version], p.restarts)
            up.add_metric([p.plugin, p.version], 1 if p.running else 0)
            if p.rss_bytes is not None:
                rss.add_metric([p.plugin, p.version], p.rss_bytes)
        yield restarts
        yield rss
        yield up


def render(snapshot: ScrapeSnapshot | None = None, *, multiprocess_dir: Path | None = None) -> bytes:
    """The Prometheus text exposition of every series, plus ``snapshot``'s gauges.

    Args:
        snapshot: Scrape-time gauges to add.
        multiprocess_dir: ``PROMETHEUS_MULTIPROC_DIR`` (``settings.observability.metrics_dir``):
            aggregate the files every process keeps there instead of this process's series.
    """
    registry = CollectorRegistry()
    if multiprocess_dir is not None:
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]  # untyped upstream
    else:
        registry.register(_Delegate(REGISTRY))
    if snapshot is not None:
        registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)


class _Delegate(Collector):
    """Exposes another registry's series (so the module registry is never changed by a scrape)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return list(self.source.collect())
