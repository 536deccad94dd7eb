"""What the call sites say: one function per observed act, each recording metrics, a span and log ids.

The engine, the plugin proxy, the webhook service and the LLM service each call one of these
at the point where the act happens, so the series, span names and attributes live here
rather than scattered over the host.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any, Final

from pydantic import BaseModel

from synthral.observability import forward, metrics, tracing
from synthral.observability.logs import execution_scope, node_scope

__all__ = [
    "PluginCall",
    "audit_recorded",
    "execution",
    "execution_ended",
    "llm_call",
    "llm_usage",
    "plugin_call",
    "run_finished",
    "step_attempt",
    "step_event",
    "step_retried",
    "webhook_delivery",
]

log = logging.getLogger("synthral.engine.execution")

AGENT_STEP_EVENT: Final = "agent.step"
"""The step event an agent emits per step (``synthral.services.agents``): forwarded as an agent step."""
PRODUCT_AUDIT_ACTIONS: Final = frozenset(
    {"auth.login", "auth.sso_login", "member.add", "plugin.install", "plugin.remove", "workflow.delete",
     "workflow.export", "api_key.create"}
)  # fmt: skip
"""Audit acts that are also product events (what people do with the product, not who they are)."""

_SCRAPE_CATEGORIES: Final = frozenset({"scrape", "scraping", "browser", "web"})
"""Palette groups (lower-cased) whose calls count as scraping: the web nodes' group and older names."""


@contextlib.contextmanager
def execution(execution_id: str, workflow_id: str, version: int) -> Iterator[None]:
    """Around one worker's turn at an execution: its span, and its id on every log record."""
    with (
        execution_scope(execution_id),
        tracing.span(
            "workflow.execution",
            {
                "synthral.execution_id": execution_id,
                "synthral.workflow_id": workflow_id,
                "synthral.workflow_version": version,
            },
        ),
    ):
        yield


def execution_ended(status: str) -> None:
    """An execution reached ``status`` (completed, failed, cancelled, paused, waiting...)."""
    metrics.WORKFLOW_EXECUTIONS.labels(status=status).inc()
    log.info("execution reached %s", status, extra={"status": status})
    if status == "failed":
        tracing.set_error("execution failed")


@contextlib.contextmanager
def step_attempt(node_id: str, node_type: str, attempt: int) -> Iterator[None]:
    """Around one attempt of a step: its span, its duration by node type and outcome."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        with (
            node_scope(node_id),
            tracing.span(
                "workflow.step",
                {"synthral.node_id": node_id, "synthral.node_type": node_type, "synthral.attempt": attempt},
            ),
        ):
            yield
        outcome = "completed"
    except BaseException as exc:
        outcome = "cancelled" if not isinstance(exc, Exception) else "failed"
        raise
    finally:
        metrics.STEP_DURATION.labels(node_type=node_type, outcome=outcome).observe(time.perf_counter() - started)


def step_retried(node_type: str) -> None:
    """A failed attempt is to be retried."""
    metrics.STEP_RETRIES.labels(node_type=node_type).inc()


class PluginCall:
    """One call into a plugin process, as the proxy sees it.

    Attributes:
        traceparent: The W3C header of the call's span, for the ``invoke`` context.
    """

    __slots__ = ("traceparent",)

    def __init__(self) -> None:
        self.traceparent: str | None = None


@contextlib.contextmanager
def plugin_call(kind: str, plugin: str, capability: str, operation: str, category: str | None) -> Iterator[PluginCall]:
    """Around an ``invoke``: its span (the plugin's own spans join it) and its series by kind."""
    call = PluginCall()
    started = time.perf_counter()
    failed = True
    try:
        with tracing.span(
            f"plugin.invoke {plugin}/{capability}",
            {
                "rpc.system": "jsonrpc",
                "rpc.service": plugin,
                "rpc.method": "invoke",
                "synthral.capability": f"{plugin}/{capability}",
                "synthral.capability_kind": kind,
                "synthral.operation": operation,
            },
        ):
            call.traceparent = tracing.traceparent()
            yield call
        failed = False
    finally:
        seconds = time.perf_counter() - started
        metrics.PLUGIN_RPC_LATENCY.labels(plugin=plugin, kind=kind).observe(seconds)
        ref = f"{plugin}/{capability}"
        if kind == "connector":
            metrics.CONNECTOR_LATENCY.labels(slug=ref, action=operation).observe(seconds)
            if failed:
                metrics.CONNECTOR_ERRORS.labels(slug=ref, action=operation).inc()
        elif kind == "agent_framework":
            metrics.AGENT_TASK_LATENCY.labels(framework=ref).observe(seconds * 1000)
        elif kind == "vector_store":
            metrics.RAG_QUERY_LATENCY.labels(vector_db=ref).observe(seconds * 1000)
        elif kind == "ocr_engine":
            metrics.OCR_JOB_LATENCY.labels(engine=ref).observe(seconds * 1000)
        elif category in _SCRAPE_CATEGORIES:
            metrics.SCRAPE_JOB_LATENCY.labels(engine=ref).observe(seconds * 1000)


def webhook_delivery(outcome: str, reason: str) -> None:
    """A webhook delivery was ``accepted`` or ``rejected`` (reason: a short fixed word)."""
    metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome, reason=reason).inc()


def llm_usage(model: str, tokens_input: int, tokens_output: int, usd_cost: float | None) -> None:
    """An LLM call's usage by model."""
    if tokens_input:
        metrics.LLM_TOKENS.labels(model=model, direction="input").inc(tokens_input)
    if tokens_output:
        metrics.LLM_TOKENS.labels(model=model, direction="output").inc(tokens_output)
    if usd_cost:
        metrics.LLM_COST.labels(model=model).inc(usd_cost)


def llm_call(record: dict[str, Any], *, request: BaseModel | None = None, response: BaseModel | None = None) -> None:
    """An LLM call was recorded (``llm_call`` row fields), with its request and answer when there are any."""
    if not forward.active():
        return  # the messages are copied only when someone takes them
    forward.publish(
        "llm_call",
        {
            **record,
            "request": request.model_dump(mode="json", include={"messages"}) if request is not None else None,
            "response": response.model_dump(mode="json", include={"message", "finish_reason"})
            if response is not None
            else None,
        },
    )


def step_event(execution_id: str, node_id: str, kind: str, data: dict[str, Any]) -> None:
    """A step emitted a live event (already masked); agent steps are forwarded."""
    if kind == AGENT_STEP_EVENT and forward.active():
        forward.publish("agent_step", {"execution_id": execution_id, "node_id": node_id, **data})


def run_finished(
    *,
    execution_id: str,
    workflow_id: str,
    workflow: str,
    workspace_id: str | None,
    status: str,
    trigger: str | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
    node_id: str | None = None,
) -> None:
    """A run's end was recorded: a product event, and an error event when it failed."""
    if not forward.active():
        return
    event = {
        "execution_id": execution_id,
        "workflow_id": workflow_id,
        "workflow": workflow,
        "workspace_id": workspace_id,
        "status": status,
        "trigger": trigger,
    }
    forward.publish("product", {"event": "workflow_run_finished", **event})
    if status == "failed":
        forward.publish("error", {**event, "error_type": error_type, "error_message": error_message,
                                  "node_id": node_id})  # fmt: skip


def audit_recorded(fields: dict[str, Any]) -> None:
    """An audit event was appended: a security event, and a product event for the acts that are both."""
    if not forward.active():
        return
    forward.publish("security", dict(fields))
    if fields.get("action") in PRODUCT_AUDIT_ACTIONS and fields.get("outcome") == "success":
        forward.publish("product", {"event": str(fields["action"]).replace(".", "_"), **fields})
