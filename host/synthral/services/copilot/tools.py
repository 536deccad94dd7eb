"""The copilot's tools that only read: the catalog, workflows, validation problems, executions.

Every tool takes the turn (whose actor is the user, with their role and a key's scope) and
its JSON arguments, and returns JSON for the model and the chat's card. A tool never acts
on its own: the acting ones (:mod:`synthral.services.copilot.proposals`) only propose.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from synthral.engine.repository import SavedVersion, WorkflowNotFound
from synthral.errors import InputInvalid, NotFound
from synthral.services.copilot.data import Data
from synthral.services.copilot.turn import Turn
from synthral.store.tables import ExecutionStatus
from synthral_sdk import ToolSpec

__all__ = ["CopilotTool", "brief", "preview", "read_tools", "resolve_workflow"]

ToolFn = Callable[[Turn, Data, str], Awaitable[Data]]
PREVIEW: Final = 600
_SCHEMA_KEYS: Final = frozenset({"type", "enum", "description", "default", "minimum", "maximum", "pattern", "format"})
MAX_WAIT: Final = 60.0


@dataclass(frozen=True)
class CopilotTool:
    """A tool the model may call in some modes."""

    name: str
    description: str
    parameters: Data
    run: ToolFn

    def spec(self) -> ToolSpec:
        """What the model is told about it."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


def preview(value: Any, limit: int = PREVIEW) -> str:
    """A value as short JSON text (cut with a marker when longer than ``limit``)."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def _text(args: Data, key: str, default: str = "") -> str:
    value = args.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InputInvalid(f"'{key}' must be a string")
    return value


async def resolve_workflow(turn: Turn, ref: str | None, *, what: str) -> SavedVersion:
    """A workflow by id or name (the open one when ``ref`` is empty), within the actor's reach.

    Raises:
        InputInvalid: No workflow named and none is open.
        Forbidden: A workflow-scoped key names another workflow.
        NotFound: No such workflow in the workspace.
    """
    name = (ref or "").strip() or turn.open_workflow_id
    if not name:
        raise InputInvalid(
            f"{what}: no workflow is open in this conversation; name one ('workflow': its name or id), "
            "or draft one first"
        )
    try:
        saved = await turn.services.workflows.get(name, workspace_id=turn.actor.workspace_id)
    except WorkflowNotFound:
        raise NotFound(
            f"{what}: no workflow {name!r} in this workspace; list_workflows shows the ones there are",
            details={"workflow": name},
        ) from None
    turn.actor.check_scope(saved.workflow_id, what)
    return saved


def brief(saved: SavedVersion) -> Data:
    """A saved workflow as the model sees it: id, name, version, the whole definition."""
    return {
        "workflow_id": saved.workflow_id,
        "name": saved.name,
        "version": saved.version,
        "definition": saved.workflow.model_dump(mode="json", exclude_unset=True),
    }


# -- catalog -----------------------------------------------------------------------------------


async def search_catalog(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    query = _text(args, "query")
    results = turn.services.catalog.search(query)
    return {
        "query": query,
        "results": results,
        "count": len(results),
        "note": "no node type matches; try other words, or say which plugin to install"
        if not results
        else "use 'type' in a node; fill 'input' per the operation's input fields and 'config' per config",
    }


async def describe_node(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    node_type = _text(args, "type")
    described = turn.services.catalog.describe(node_type)
    if described is None:
        close = [item["type"] for item in turn.services.catalog.search(node_type.replace("/", " "), limit=5)]
        raise NotFound(f"no node type {node_type!r} is installed; close ones: {', '.join(map(str, close)) or 'none'}")
    return described


# -- workflows ---------------------------------------------------------------------------------


async def list_workflows(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    query = _text(args, "query").lower()
    if turn.actor.scope_workflow_id is not None:
        saved = await resolve_workflow(turn, None, what="listing workflows")
        return {"workflows": [{"id": saved.workflow_id, "name": saved.name, "version": saved.version}]}
    rows = await turn.services.workflows.list_workflows(workspace_id=turn.actor.workspace_id, limit=200)
    found = [
        {"id": row["id"], "name": row["name"], "version": row["version"], "description": row.get("description")}
        for row in rows
        if not query or query in str(row["name"]).lower() or query in str(row.get("description") or "").lower()
    ]
    return {"workflows": found[:50], "count": len(found)}


async def get_workflow(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    saved = await resolve_workflow(turn, _text(args, "workflow"), what="reading a workflow")
    runs = await turn.services.workflows.executions(
        workflow=saved.workflow_id, limit=1, workspace_id=saved.workspace_id
    )
    latest = runs[0] if runs else None
    return {
        **brief(saved),
        "latest_execution": {"id": latest["id"], "status": latest["status"]} if latest else None,
    }


async def explain_validation(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    definition = args.get("workflow")
    source = "the given definition"
    if definition is None:
        proposal = turn.state.get("proposal")
        if isinstance(proposal, dict) and isinstance(proposal.get("workflow"), dict):
            definition, source = proposal["workflow"], "the proposed draft"
        else:
            saved = await resolve_workflow(turn, None, what="explaining validation")
            definition, source = saved.workflow.model_dump(mode="json"), f"workflow {saved.name!r}"
    if not isinstance(definition, dict):
        raise InputInvalid("'workflow' must be a workflow definition (an object with name, nodes, edges, triggers)")
    check = turn.services.catalog.check(definition)
    explained = []
    for problem in check.problems:
        expected = turn.services.catalog.field_schema(definition, problem.get("node_id"), str(problem.get("field")))
        item = dict(problem)
        if expected is not None:
            item["expected"] = {key: value for key, value in expected.items() if key in _SCHEMA_KEYS}
        explained.append(item)
    return {"source": source, "valid": check.valid, "problems": explained}


# -- executions --------------------------------------------------------------------------------


async def _execution(turn: Turn, args: Data, what: str) -> Any:
    execution_id = _text(args, "execution_id")
    workflows = turn.services.workflows
    last = turn.state.get("last_execution")
    if not execution_id and not _text(args, "workflow") and isinstance(last, str):
        execution_id = last  # the run this conversation started last
    if not execution_id:
        saved = await resolve_workflow(turn, _text(args, "workflow"), what=what)
        runs = await workflows.executions(workflow=saved.workflow_id, limit=1, workspace_id=turn.actor.workspace_id)
        if not runs:
            raise NotFound(f"{what}: workflow {saved.name!r} has not run yet")
        execution_id = str(runs[0]["id"])
    wait = args.get("wait_seconds", 0)
    deadline = asyncio.get_running_loop().time() + min(float(wait) if isinstance(wait, int | float) else 0.0, MAX_WAIT)
    while True:
        view = await workflows.execution(execution_id, workspace_id=turn.actor.workspace_id)
        turn.actor.check_scope(str(view.execution["workflow_id"]), what)
        if view.status in ExecutionStatus.TERMINAL or asyncio.get_running_loop().time() >= deadline:
            return view
        await asyncio.sleep(0.25)


def _step(step: dict[str, Any]) -> Data:
    return {
        "node_id": step["node_id"],
        "node_type": step["node_type"],
        "iteration": step["iteration"],
        "attempt": step["attempt"],
        "status": step["status"],
        "error_type": step.get("error_type"),
        "error_message": step.get("error_message"),
        "duration_ms": step.get("duration_ms"),
        "output": preview(step.get("output")) if step.get("output") is not None else None,
    }


async def read_execution(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    view = await _execution(turn, args, "reading an execution")
    execution = view.execution
    return {
        "execution_id": execution["id"],
        "workflow_id": execution["workflow_id"],
        "version": execution["workflow_version"],
        "status": execution["status"],
        "trigger": execution.get("trigger"),
        "input": preview(execution.get("input")),
        "error_type": execution.get("error_type"),
        "error_message": execution.get("error_message"),
        "steps": [_step(step) for step in view.steps][-40:],
    }


_HINTS: Final = (
    (re.compile(r"\b(?:HTTP )?40[13]\b|unauthori[sz]ed|forbidden", re.I),
     "the service refused the credentials: grant the right credential in the node's 'secrets' and check it"),
    (re.compile(r"\b404\b|not found", re.I), "the address was not found: check the URL or the id the step used"),
    (re.compile(r"\b(?:429|rate.?limit)", re.I), "the service is rate-limiting: lower the frequency or add retries"),
    (re.compile(r"\b5\d\d\b", re.I), "the service failed on its side: retries with back-off usually get through"),
    (re.compile(r"timed? ?out|deadline", re.I), "the step ran out of time: raise the node's 'timeout'"),
    (re.compile(r"template|undefined|has no attribute", re.I),
     "a template read a field that is not there: check the names under nodes.<id>.output against the last run"),
    (re.compile(r"not valid|invalid|schema|required", re.I),
     "the step's input did not match what the node expects: compare the input with describe_node's schema"),
)  # fmt: skip


def hints_for(error: str) -> list[str]:
    """What usually fixes an error like this one."""
    return [hint for pattern, hint in _HINTS if pattern.search(error)][:2]


async def explain_failure(turn: Turn, args: Data, call_id: str) -> Data:
    del call_id
    view = await _execution(turn, args, "explaining a failure")
    execution = view.execution
    failed = [step for step in view.steps if step["status"] == "failed"]
    if execution["status"] != ExecutionStatus.FAILED and not failed:
        return {"execution_id": execution["id"], "status": execution["status"], "failed": False,
                "note": "this run did not fail"}  # fmt: skip
    saved = await turn.services.workflows.get(
        str(execution["workflow_id"]), int(execution["workflow_version"]), workspace_id=turn.actor.workspace_id
    )
    last = failed[-1] if failed else None
    attempts = [step for step in failed if last is not None and step["node_id"] == last["node_id"]]
    node = next((n for n in saved.workflow.nodes if last is not None and n.id == last["node_id"]), None)
    error = str((last or {}).get("error_message") or execution.get("error_message") or "")
    return {
        "execution_id": execution["id"],
        "workflow": saved.name,
        "status": execution["status"],
        "failed": True,
        "failed_step": {
            "node_id": last["node_id"] if last else None,
            "node_type": last["node_type"] if last else None,
            "attempts": len(attempts),
            "error_type": (last or {}).get("error_type") or execution.get("error_type"),
            "error_message": error,
            "input": preview(last.get("input")) if last else None,
            "config": node.config if node else None,
        },
        "run_error": execution.get("error_message"),
        "hints": hints_for(error),
        "quote": f"Step '{last['node_id'] if last else '?'}' failed: {error}",
    }


def _schema(properties: Data, required: list[str] | None = None) -> Data:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": False}


_WORKFLOW_REF: Final = {"type": "string", "description": "A workflow's name or id; the open workflow when empty."}
_EXECUTION_ARGS: Final = {
    "execution_id": {
        "type": "string",
        "description": "An execution's id; when empty, the run this chat started last, else the workflow's latest.",
    },
    "workflow": _WORKFLOW_REF,
    "wait_seconds": {"type": "number", "description": "Wait up to this long (max 60) for a running run to end."},
}


def read_tools() -> list[CopilotTool]:
    """The tools that only read, for the automation mode."""
    return [
        CopilotTool(
            "search_catalog",
            "Find node types by words (e.g. 'rss', 'email', 'http'): each with its "
            "type, input fields, config fields and outputs.",
            _schema({"query": {"type": "string"}}, ["query"]),
            search_catalog,
        ),
        CopilotTool(
            "describe_node",
            "The whole JSON Schemas of one node type (config, each operation's input and output).",
            _schema({"type": {"type": "string"}}, ["type"]),
            describe_node,
        ),
        CopilotTool(
            "list_workflows",
            "The workspace's workflows (optionally matching words).",
            _schema({"query": {"type": "string"}}),
            list_workflows,
        ),
        CopilotTool(
            "get_workflow",
            "A saved workflow's definition, version and latest run.",
            _schema({"workflow": _WORKFLOW_REF}),
            get_workflow,
        ),
        CopilotTool(
            "explain_validation",
            "Every validation problem of a definition (default: the proposed draft, "
            "else the open workflow), each with the field's expected schema.",
            _schema({"workflow": {"type": "object"}}),
            explain_validation,
        ),
        CopilotTool(
            "read_execution",
            "An execution's status and every step (status, attempt, error, output preview).",
            _schema(_EXECUTION_ARGS),
            read_execution,
        ),
        CopilotTool(
            "explain_failure",
            "Why a run failed: the failing step, its error message verbatim, its input and config, and usual fixes.",
            _schema(_EXECUTION_ARGS),
            explain_failure,
        ),
    ]
