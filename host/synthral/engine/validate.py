"""Workflow validation: what the stored form's models cannot check on their own.

:mod:`synthral.engine.model` checks a workflow's shape. This module checks its meaning
against the installed capabilities: node types and operations exist, configs match their
schemas, edges connect existing nodes through the right branches, every node can run and
every loop can end, templates compile and read only nodes that run before them, and
schedules parse. It reports every problem at once, each naming the node, the field, the
problem and the fix.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.cron import CronTrigger as ApsCronTrigger  # type: ignore[import-untyped]  # no stubs
from jsonschema import Draft202012Validator, SchemaError
from jsonschema.exceptions import best_match
from pydantic import BaseModel, JsonValue, ValidationError

from synthral.engine.engine_nodes import ENGINE_NODE_CONFIGS, branches, engine_spec
from synthral.engine.model import ENGINE_NODE_TYPES, NODE_TYPE, CronTrigger, Node, Workflow
from synthral.engine.templates import (
    GLOBAL_NAMES,
    MAP_SCOPE_NAMES,
    SCOPE_NAMES,
    check_template,
    iter_templates,
    template_references,
    template_variables,
)
from synthral.errors import TemplateError, WorkflowInvalid
from synthral_sdk import CapabilitySpec

if TYPE_CHECKING:
    from synthral.plugins.host import CatalogEntry

__all__ = ["CapabilityLookup", "SpecCatalog", "ValidationIssue", "ensure_valid", "invalid", "validate_workflow"]

CapabilityLookup = Callable[[str, str | None], CapabilitySpec | None]
"""``lookup(node_type, pinned_version)``: the capability's spec, or None when it is not installed."""

_FIX_CONFIG: Final = "fix the value to match the capability's config schema"


class ValidationIssue(BaseModel):
    """One problem with a workflow."""

    node: str | None = None
    """The node's id, or None for a problem of the workflow as a whole."""
    field: str
    """Where the problem is: 'config.timeout', 'input.url', 'edges[3]', 'triggers[0].cron'."""
    code: str
    """What kind of problem: 'unknown_node_type', 'config_invalid', 'bad_handle'..."""
    message: str
    """The problem and its fix, for a person, naming the node."""


class SpecCatalog:
    """Capability specs by type (``plugin/capability``) and version: a lookup for :func:`validate_workflow`.

    Args:
        specs: ``{node_type: {version: spec}}``; for each type the last version is the default.
    """

    def __init__(self, specs: Mapping[str, Mapping[str, CapabilitySpec]] | None = None) -> None:
        self._specs: dict[str, dict[str, CapabilitySpec]] = {name: dict(v) for name, v in (specs or {}).items()}

    @classmethod
    def from_entries(cls, entries: Iterable[CatalogEntry]) -> SpecCatalog:
        """A catalog of :meth:`PluginHost.catalog() <synthral.plugins.host.PluginHost.catalog>`'s entries."""
        catalog = cls()
        for entry in entries:
            catalog.add(entry.plugin, entry.version, entry.spec)
        return catalog

    def add(self, plugin: str, version: str, spec: CapabilitySpec) -> None:
        """Add one plugin version's capability; it becomes the type's default version."""
        versions = self._specs.setdefault(f"{plugin}/{spec.name}", {})
        versions.pop(version, None)
        versions[version] = spec

    @property
    def types(self) -> list[str]:
        """Every known node type, sorted."""
        return sorted(self._specs)

    def __call__(self, node_type: str, version: str | None) -> CapabilitySpec | None:
        """The spec of ``node_type`` at ``version`` (the default one when None), or None."""
        versions = self._specs.get(node_type, {})
        if version is None:
            return next(reversed(versions.values()), None)
        return versions.get(version)


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _path(prefix: str, parts: Iterable[object]) -> str:
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _schema_problems(schema: Mapping[str, JsonValue], data: object, prefix: str) -> Iterator[tuple[str, str]]:
    """``(field, message)`` for every way ``data`` fails a JSON Schema (draft 2020-12)."""
    try:
        validator = Draft202012Validator(schema)
    except SchemaError:  # a plugin's broken schema is the plugin's bug; its own checks still run
        return
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        deepest = best_match(error.context) if error.context else error
        yield _path(prefix, deepest.absolute_path), deepest.message


def _model_problems(model: type[BaseModel], data: object, prefix: str) -> Iterator[tuple[str, str]]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            yield _path(prefix, error["loc"]), error["msg"].removeprefix("Value error, ")


def _reachable(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """Nodes reachable from ``start`` through at least one edge."""
    seen: set[str] = set()
    queue = deque(target for node in start for target in edges.get(node, ()))
    while queue:
        node = queue.popleft()
        if node not in seen:
            seen.add(node)
            queue.extend(edges.get(node, ()))
    return seen


def _components(ids: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The strongly connected components of the graph (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in ids:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while not component or component[-1] != node:
                    component.append(stack.pop())
                    on_stack.discard(component[-1])
                found.append(component[::-1])
    return found


class _Checker:
    """One validation run: the workflow, the lookup and the issues found so far."""

    def __init__(self, workflow: Workflow, lookup: CapabilityLookup, known_types: Iterable[str]) -> None:
        self.workflow = workflow
        self.lookup = lookup
        self.known_types = sorted({*known_types, *ENGINE_NODE_TYPES})
        self.ids = [node.id for node in workflow.nodes]
        self.issues: list[ValidationIssue] = []
        self.edges: dict[str, list[str]] = {node_id: [] for node_id in self.ids}

    def add(self, node: str | None, field: str, code: str, message: str) -> None:
        self.issues.append(ValidationIssue(node=node, field=field, code=code, message=message))

    def run(self) -> list[ValidationIssue]:
        for node in self.workflow.nodes:
            self.check_node(node)
        self.check_edges()
        ancestors = self.check_graph()
        for node in self.workflow.nodes:
            self.check_templates(node, node.input, "input", ancestors)
            per_item = node.config.get("input") if node.type == "engine/map" else None
            if isinstance(per_item, dict):
                self.check_templates(node, per_item, "config.input", ancestors, MAP_SCOPE_NAMES)
        self.check_triggers()
        return self.issues

    # -- nodes -----------------------------------------------------------------------------

    def spec(self, node: Node, node_type: str, field: str) -> CapabilitySpec | None:
        spec = self.lookup(node_type, node.version)
        if spec is not None:
            return spec
        if node.version is not None and self.lookup(node_type, None) is not None:
            message = (
                f"node '{node.id}': version '{node.version}' of '{node_type}' is not installed (another version "
                "is); install that version or remove the node's 'version' pin"
            )
        else:
            message = (
                f"node '{node.id}': no installed plugin provides the node type '{node_type}'"
                f"{_suggest(node_type, self.known_types)}; install the plugin that provides it or fix the type"
            )
        self.add(node.id, field, "unknown_node_type", message)
        return None

    def check_node(self, node: Node) -> None:
        if node.type in ENGINE_NODE_TYPES:
            if node.operation is not None:
                self.add(
                    node.id,
                    "operation",
                    "unknown_operation",
                    f"node '{node.id}': '{node.type}' has no operations; remove 'operation'",
                )
            for field, problem in _model_problems(ENGINE_NODE_CONFIGS[node.type], node.config, "config"):
                self.add(node.id, field, "config_invalid", f"node '{node.id}': {field}: {problem}; fix the config")
            self.check_input_fields(node, engine_spec(node.type), "run", node.input, "input", required=True)
            if node.type == "engine/map":
                self.check_map(node)
            return
        spec = self.spec(node, node.type, "type")
        if spec is None:
            return
        operation = self.check_operation(node, spec, node.operation, "operation")
        for field, problem in _schema_problems(spec.config_schema, node.config, "config"):
            self.add(node.id, field, "config_invalid", f"node '{node.id}': {field}: {problem}; {_FIX_CONFIG}")
        if operation is not None:
            self.check_input_fields(node, spec, operation, node.input, "input")

    def check_map(self, node: Node) -> None:
        """The capability a map runs per item, read field by field so one bad field hides no other."""
        inner, config = node.config.get("type"), node.config.get("config", {})
        if not isinstance(inner, str) or inner in ENGINE_NODE_TYPES or not NODE_TYPE.fullmatch(inner):
            return  # reported with the node's config
        spec = self.spec(node, inner, "config.type")
        if spec is None:
            return
        operation = node.config.get("operation")
        operation = self.check_operation(
            node, spec, operation if isinstance(operation, str) else None, "config.operation"
        )
        for field, problem in _schema_problems(spec.config_schema, config, "config.config"):
            self.add(
                node.id,
                field,
                "config_invalid",
                f"node '{node.id}': {field}: {problem}; fix the value to match the config schema of '{inner}'",
            )
        per_item = node.config.get("input", {})
        if operation is not None and isinstance(per_item, dict):
            self.check_input_fields(node, spec, operation, per_item, "config.input")

    def check_operation(self, node: Node, spec: CapabilitySpec, operation: str | None, field: str) -> str | None:
        names = sorted(spec.operations)
        if operation is None:
            if len(names) == 1:
                return names[0]
            self.add(
                node.id,
                field,
                "unknown_operation",
                f"node '{node.id}': its capability '{spec.name}' has several operations ({', '.join(names)}); "
                f"set '{field}' to one of them",
            )
            return None
        if operation not in spec.operations:
            self.add(
                node.id,
                field,
                "unknown_operation",
                f"node '{node.id}': capability '{spec.name}' has no operation '{operation}'"
                f"{_suggest(operation, names)}; use one of: {', '.join(names)}",
            )
            return None
        return operation

    def check_input_fields(
        self,
        node: Node,
        spec: CapabilitySpec,
        operation: str,
        data: Mapping[str, JsonValue],
        field: str,
        *,
        required: bool = False,
    ) -> None:
        """Input field names against the operation's input schema (their values are templated)."""
        schema = spec.operations[operation].input_schema
        known = schema.get("properties")
        if not isinstance(known, dict):
            return
        if schema.get("additionalProperties") is False:
            for name in sorted(set(data) - set(known)):
                self.add(
                    node.id,
                    f"{field}.{name}",
                    "input_invalid",
                    f"node '{node.id}': '{spec.name}' takes no input field '{name}'{_suggest(name, known)}; "
                    f"its fields are: {', '.join(sorted(known)) or 'none'}",
                )
        wanted = schema.get("required")
        names = sorted(name for name in wanted if isinstance(name, str)) if isinstance(wanted, list) else []
        for name in names if required else []:
            if name not in data:
                self.add(
                    node.id,
                    f"{field}.{name}",
                    "input_invalid",
                    f"node '{node.id}': '{node.type}' needs the input field '{name}'; add it",
                )

    # -- edges and the graph ---------------------------------------------------------------

    def check_edges(self) -> None:
        nodes = {node.id: node for node in self.workflow.nodes}
        seen: set[tuple[str, str, str | None]] = set()
        for position, edge in enumerate(self.workflow.edges):
            field = f"edges[{position}]"
            label = f"edge {position} ({edge.source} -> {edge.target})"
            missing = [end for end in (edge.source, edge.target) if end not in nodes]
            if missing:
                owner = edge.source if edge.source in nodes else None
                for end in missing:
                    self.add(
                        owner,
                        field,
                        "dangling_edge",
                        f"{label}: there is no node '{end}'{_suggest(end, self.ids)}; fix the edge or remove it",
                    )
                continue
            key = (edge.source, edge.target, edge.handle)
            if key in seen:
                self.add(edge.source, field, "duplicate_edge", f"{label}: the same edge appears twice; remove one")
                continue
            seen.add(key)
            self.check_handle(nodes[edge.source], edge.handle, field, label)
            self.edges[edge.source].append(edge.target)

    def check_handle(self, source: Node, handle: str | None, field: str, label: str) -> None:
        names = branches(source)
        if names is None:
            if handle is not None:
                self.add(
                    source.id,
                    f"{field}.handle",
                    "bad_handle",
                    f"{label}: node '{source.id}' ({source.type}) does not branch, so its edges take no handle; "
                    f"remove the handle '{handle}'",
                )
            return
        listed = ", ".join(repr(name) for name in sorted(names)) or "none (the node has no branches)"
        if handle is None:
            problem = f"node '{source.id}' ({source.type}) branches, so the edge needs a handle"
        elif handle not in names:
            problem = f"node '{source.id}' has no branch '{handle}'{_suggest(handle, names)}"
        else:
            return
        self.add(source.id, f"{field}.handle", "bad_handle", f"{label}: {problem}; use one of: {listed}")

    def check_graph(self) -> dict[str, set[str]]:
        """Check starts, reachability and loops; return each node's ancestors."""
        targets = {target for children in self.edges.values() for target in children}
        starts = [node_id for node_id in self.ids if node_id not in targets]
        if not starts:
            self.add(
                None,
                "edges",
                "no_start",
                "every node has an incoming edge, so none can run first; remove the edge into the node that "
                "should start the run",
            )
        else:
            reached = _reachable(starts, self.edges) | set(starts)
            for node_id in self.ids:
                if node_id not in reached:
                    self.add(
                        node_id,
                        "edges",
                        "unreachable_node",
                        f"node '{node_id}' cannot be reached from a start node ({', '.join(starts)}); connect it "
                        "to the graph or remove it",
                    )
        nodes = {node.id: node for node in self.workflow.nodes}
        for component in _components(self.ids, self.edges):
            inside = set(component)
            if len(component) == 1 and component[0] not in self.edges[component[0]]:
                continue  # no loop
            exits = [
                node_id
                for node_id in component
                if branches(nodes[node_id]) is not None and any(t not in inside for t in self.edges[node_id])
            ]
            if not exits:
                loop = " -> ".join([*component, component[0]])
                self.add(
                    component[0],
                    "edges",
                    "cycle_without_exit",
                    f"nodes {loop} form a loop that nothing can leave; add an if or switch node in the loop with "
                    "a branch whose edge leads out of it",
                )
        reverse: dict[str, list[str]] = {node_id: [] for node_id in self.ids}
        for source, children in self.edges.items():
            for target in children:
                reverse[target].append(source)
        return {node_id: _reachable([node_id], reverse) for node_id in self.ids}

    # -- templates -------------------------------------------------------------------------

    def check_templates(
        self,
        node: Node,
        value: dict[str, JsonValue],
        prefix: str,
        ancestors: Mapping[str, set[str]],
        extra_names: frozenset[str] = frozenset(),
    ) -> None:
        readable = SCOPE_NAMES | GLOBAL_NAMES | extra_names
        for path, source in iter_templates(value):
            field = f"{prefix}.{path}"
            try:
                check_template(source, where=f"node '{node.id}' {field}")
            except TemplateError as exc:
                self.add(node.id, field, "invalid_template", exc.message)
                continue
            for name in sorted(template_variables(source) - readable):
                self.add(
                    node.id,
                    field,
                    "unknown_variable",
                    f"node '{node.id}' {field}: the template reads '{name}', which is not defined"
                    f"{_suggest(name, readable)}; templates can read: {', '.join(sorted(readable))}",
                )
            for ref in sorted(template_references(source)):
                if ref not in ancestors:
                    self.add(
                        node.id,
                        field,
                        "unknown_reference",
                        f"node '{node.id}' {field}: the template reads nodes.{ref}, but there is no node '{ref}'"
                        f"{_suggest(ref, self.ids)}; fix the node id",
                    )
                elif ref not in ancestors[node.id]:
                    self.add(
                        node.id,
                        field,
                        "not_upstream",
                        f"node '{node.id}' {field}: the template reads nodes.{ref}, but '{ref}' cannot run before "
                        f"'{node.id}' (no path of edges leads from it); add an edge path from '{ref}' or read "
                        "another node",
                    )

    # -- triggers --------------------------------------------------------------------------

    def check_triggers(self) -> None:
        for position, trigger in enumerate(self.workflow.triggers):
            if not isinstance(trigger, CronTrigger):
                continue
            field = f"triggers[{position}]"
            zone = ZoneInfo("UTC")
            try:
                zone = ZoneInfo(trigger.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.add(
                    None,
                    f"{field}.timezone",
                    "unknown_timezone",
                    f"trigger {position} (cron): '{trigger.timezone}' is not a known time zone"
                    f"{_suggest(trigger.timezone, available_timezones())}; use an IANA name such as 'Europe/Paris'",
                )
            try:
                ApsCronTrigger.from_crontab(trigger.cron, timezone=zone)
            except ValueError as exc:
                self.add(
                    None,
                    f"{field}.cron",
                    "invalid_cron",
                    f"trigger {position} (cron): '{trigger.cron}' is not a valid cron expression ({exc}); write "
                    "five fields, 'minute hour day month day_of_week', e.g. '0 9 * * mon-fri'",
                )


def validate_workflow(
    workflow: Workflow, lookup: CapabilityLookup, *, known_types: Iterable[str] = ()
) -> list[ValidationIssue]:
    """Every problem with ``workflow``, in the order of nodes, edges, graph, templates, triggers.

    Args:
        workflow: The workflow, already valid in shape (a :class:`~synthral.engine.model.Workflow`).
        lookup: ``lookup(node_type, pinned_version)`` gives a capability's spec or None,
            e.g. a :class:`SpecCatalog`.
        known_types: Node types to suggest when a type is unknown (``SpecCatalog.types``).

    Returns:
        The issues found; empty when the workflow is valid.
    """
    return _Checker(workflow, lookup, known_types).run()


def invalid(subject: str, issues: Sequence[ValidationIssue]) -> WorkflowInvalid:
    """The error listing ``issues``, with them as dicts under ``details['issues']``."""
    count = f"{len(issues)} problem{'s' if len(issues) != 1 else ''}"
    lines = "\n".join(f"- {issue.message}" for issue in issues)
    return WorkflowInvalid(
        f"{subject} is invalid ({count}):\n{lines}",
        details={"issues": [issue.model_dump() for issue in issues]},
    )


def ensure_valid(workflow: Workflow, lookup: CapabilityLookup, *, known_types: Iterable[str] = ()) -> None:
    """Raise unless ``workflow`` is valid.

    Raises:
        WorkflowInvalid: Its message lists every issue; ``details['issues']`` holds them.
    """
    issues = validate_workflow(workflow, lookup, known_types=known_types)
    if issues:
        raise invalid(f"workflow '{workflow.name}'", issues)
