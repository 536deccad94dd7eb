"""Compiling a workflow version into a LangGraph StateGraph.

State: ``trigger:input`` (the run's input) and one channel per node, ``node:<id>``, holding
its latest result. Edges become LangGraph edges. A node with edges that name an output
other than ``main`` (an if/switch branch, or ``error``) gets a conditional edge routed by
the ``branch`` its result names; a node whose record says it joins (merge) waits for all its
predecessors. Nodes without incoming edges start the run.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from synthral.engine.model import ERROR_OUTPUT, MAIN_OUTPUT, Workflow
from synthral.engine.nodes import TRIGGER_KEY, make_node, state_key
from synthral.engine.registry import builtin

__all__ = ["compile_workflow", "terminal_nodes"]


def terminal_nodes(workflow: Workflow) -> list[str]:
    """Nodes without outgoing edges: their outputs are the run's output."""
    sources = {edge.source for edge in workflow.edges}
    return [node.id for node in workflow.nodes if node.id not in sources]


def compile_workflow(workflow: Workflow, checkpointer: BaseCheckpointSaver[Any]) -> Any:
    """A compiled LangGraph graph for ``workflow`` (validated beforehand)."""
    fields: dict[str, Any] = {TRIGGER_KEY: dict}
    fields.update({state_key(node.id): dict for node in workflow.nodes})
    state_type = TypedDict("WorkflowState", fields, total=False)  # type: ignore[misc]  # built from the graph
    graph: StateGraph[Any] = StateGraph(state_type)

    predecessors: dict[str, list[str]] = defaultdict(list)
    outgoing: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for edge in workflow.edges:
        predecessors[edge.target].append(edge.source)
        outgoing[edge.source].append((edge.target, edge.handle))

    for node in workflow.nodes:
        routes_errors = any(handle == ERROR_OUTPUT for _, handle in outgoing[node.id])
        # LangGraph's add_node overloads cannot type a built state: the action is Any to them
        action: Any = make_node(node, predecessors[node.id], routes_errors=routes_errors)
        graph.add_node(node.id, action)

    merges = {
        node.id
        for node in workflow.nodes
        if (record := builtin(node.type)) is not None and record.joins and len(predecessors[node.id]) > 1
    }
    for node in workflow.nodes:
        if not predecessors[node.id]:
            graph.add_edge(START, node.id)
    for merge in merges:
        graph.add_edge(predecessors[merge], merge)

    for node in workflow.nodes:
        targets = outgoing[node.id]
        if not targets:
            continue
        if any((handle or MAIN_OUTPUT) != MAIN_OUTPUT for _, handle in targets):
            routes: dict[str, list[str]] = defaultdict(list)
            for target, handle in targets:
                routes[handle or MAIN_OUTPUT].append(target)
            graph.add_conditional_edges(node.id, _router(node.id, dict(routes)), [*{t for t, _ in targets}, END])
            continue
        for target, _ in targets:
            if target not in merges:
                graph.add_edge(node.id, target)
    return graph.compile(checkpointer=checkpointer)


def _router(node_id: str, routes: dict[str, list[str]]) -> Any:
    def route(state: dict[str, Any]) -> list[str] | str:
        result = state.get(state_key(node_id)) or {}
        branch = str(result.get("branch") or MAIN_OUTPUT)
        targets = routes.get(branch, [])
        return targets or END

    route.__name__ = f"route_{node_id}"
    return route
