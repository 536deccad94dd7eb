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

from synthral.engine.model import (
    ENGINE_PLUGIN,
    ERROR_OUTPUT,
    MAIN_OUTPUT,
    NODE_TYPE,
    CronTrigger,
    Node,
    PollTrigger,
    Workflow,
)
from synthral.engine.registry import BUILTIN_TYPES, Behaviour, builtin
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
from synthral_sdk import CapabilityKind, CapabilitySpec

if TYPE_CHECKING:
    from synthral.plugins.host import CatalogEntry

__all__ = [
    "CapabilityLookup",
    "Location",
    "SpecCatalog",
    "ValidationIssue",
    "ensure_valid",
    "field_of",
    "invalid",
    "pointer_of",
    "validate_workflow",
]

Location = tuple[str | int, ...]
"""Where a problem is, as keys and indices: ``("config", "rules", 0, "branch")``."""

CapabilityLookup = Callable[[str, str | None], CapabilitySpec | None]
"""``lookup(node_type, pinned_version)``: the capability's spec, or None when it is not installed."""

_FIX_CONFIG: Final = "fix the value to match the capability's config schema"


class ValidationIssue(BaseModel):
    """One problem with a workflow."""

    node: str | None = None
    """The node's id, or None for a problem of the workflow as a whole (an edge, a trigger)."""
    field: str
    """Where the problem is, for people: 'config.timeout', 'input.url', 'edges[3]', 'triggers[0].cron'."""
    pointer: str
    """The same as an RFC 6901 JSON Pointer: into the node object when ``node`` is set, else the workflow."""
    code: str
    """What kind of problem: 'unknown_node_type', 'config_invalid', 'bad_handle'..."""
    message: str
    """The problem and its fix, for a person, naming the node."""
    severity: str = "error"
    """'error': the workflow cannot be saved with it."""

    @classmethod
    def at(cls, node: str | None, location: Location, code: str, message: str) -> ValidationIssue:
        """An issue at ``location`` (in the node when ``node`` is set, else in the workflow)."""
        return cls(node=node, field=field_of(location), pointer=pointer_of(location), code=code, message=message)


def field_of(location: Location) -> str:
    """A location for people: ``config.rules[0].branch``; ``(node)`` or ``(workflow)`` when empty."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def pointer_of(location: Location) -> str:
    """A location as an RFC 6901 JSON Pointer: ``/config/rules/0/branch``; ``""`` for the whole."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


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


def _schema_problems(schema: Mapping[str, JsonValue], data: object, prefix: Location) -> Iterator[tuple[Location, str]]:
    """``(location, message)`` for every way ``data`` fails a JSON Schema (draft 2020-12)."""
    try:
        validator = Draft202012Validator(schema)
    except SchemaError:  # a plugin's broken schema is the plugin's bug; its own checks still run
        return
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        deepest = best_match(error.context) if error.context else error
        yield (*prefix, *deepest.absolute_path), deepest.message


def _model_problems(model: type[BaseModel], data: object, prefix: Location) -> Iterator[tuple[Location, str]]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            yield (*prefix, *error["loc"]), error["msg"].removeprefix("Value error, ")


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
        self.known_types = sorted({*known_types, *BUILTIN_TYPES})
        self.ids = [node.id for node in workflow.nodes]
        self.nodes = {node.id: node for node in workflow.nodes}
        self.issues: list[ValidationIssue] = []
        self.edges: dict[str, list[str]] = {node_id: [] for node_id in self.ids}
        self.exits: set[tuple[str, str]] = set()
        """Edges that only some runs follow (a branch, an error route): the ways out of a loop."""
        self.specs: dict[str, CapabilitySpec | None] = {}

    def add(self, node: str | None, location: Location, code: str, message: str) -> None:
        self.issues.append(ValidationIssue.at(node, location, code, message))

    def run(self) -> list[ValidationIssue]:
        for node in self.workflow.nodes:
            self.specs[node.id] = self.check_node(node)
        self.check_edges()
        ancestors = self.check_graph()
        for node in self.workflow.nodes:
            self.check_templates(node, node.input, ("input",), ancestors)
            record = builtin(node.type)
            per_item = node.config.get("input") if record is not None and record.behaviour is Behaviour.MAP else None
            if isinstance(per_item, dict):
                self.check_templates(node, per_item, ("config", "input"), ancestors, MAP_SCOPE_NAMES)
        self.check_triggers()
        return self.issues

    # -- nodes -----------------------------------------------------------------------------

    def spec(self, node: Node, node_type: str, location: Location) -> CapabilitySpec | None:
        record = builtin(node_type)
        if record is not None:
            return record.spec
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
        self.add(node.id, location, "unknown_node_type", message)
        return None

    def check_node(self, node: Node) -> CapabilitySpec | None:
        spec = self.spec(node, node.type, ("type",))
        if spec is None:
            return None
        record = builtin(node.type)
        if record is not None and record.config_model is not None:
            # An engine node: one operation, and its config checked by its model (pydantic's messages).
            if node.operation is not None:
                self.add(
                    node.id,
                    ("operation",),
                    "unknown_operation",
                    f"node '{node.id}': '{node.type}' has no operations; remove 'operation'",
                )
            for location, problem in _model_problems(record.config_model, node.config, ("config",)):
                self.add(
                    node.id,
                    location,
                    "config_invalid",
                    f"node '{node.id}': {field_of(location)}: {problem}; fix the config",
                )
            self.check_input_fields(node, spec, "run", node.input, ("input",), required=True)
            if record.behaviour is Behaviour.MAP:
                self.check_map(node)
            return spec
        operation = self.check_operation(node, spec, node.operation, ("operation",))
        for location, problem in _schema_problems(spec.config_schema, node.config, ("config",)):
            self.add(
                node.id,
                location,
                "config_invalid",
                f"node '{node.id}': {field_of(location)}: {problem}; {_FIX_CONFIG}",
            )
        if operation is not None:
            self.check_input_fields(node, spec, operation, node.input, ("input",))
        return spec

    def check_map(self, node: Node) -> None:
        """The capability a map runs per item, read field by field so one bad field hides no other."""
        inner, config = node.config.get("type"), node.config.get("config", {})
        if not isinstance(inner, str) or inner.partition("/")[0] == ENGINE_PLUGIN or not NODE_TYPE.fullmatch(inner):
            return  # reported with the node's config
        spec = self.spec(node, inner, ("config", "type"))
        if spec is None:
            return
        operation = node.config.get("operation")
        operation = self.check_operation(
            node, spec, operation if isinstance(operation, str) else None, ("config", "operation")
        )
        for location, problem in _schema_problems(spec.config_schema, config, ("config", "config")):
            self.add(
                node.id,
                location,
                "config_invalid",
                f"node '{node.id}': {field_of(location)}: {problem}; fix the value to match the config schema "
                f"of '{inner}'",
            )
        per_item = node.config.get("input", {})
        if operation is not None and isinstance(per_item, dict):
            self.check_input_fields(node, spec, operation, per_item, ("config", "input"))

    def check_operation(
        self, node: Node, spec: CapabilitySpec, operation: str | None, location: Location
    ) -> str | None:
        names = sorted(spec.operations)
        field = field_of(location)
        if operation is None:
            if len(names) == 1:
                return names[0]
            self.add(
                node.id,
                location,
                "unknown_operation",
                f"node '{node.id}': its capability '{spec.name}' has several operations ({', '.join(names)}); "
                f"set '{field}' to one of them",
            )
            return None
        if operation not in spec.operations:
            self.add(
                node.id,
                location,
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
        location: Location,
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
                    (*location, name),
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
                    (*location, name),
                    "input_invalid",
                    f"node '{node.id}': '{node.type}' needs the input field '{name}'; add it",
                )

    # -- edges and the graph ---------------------------------------------------------------

    def check_edges(self) -> None:
        seen: set[tuple[str, str, str | None]] = set()
        for position, edge in enumerate(self.workflow.edges):
            location: Location = ("edges", position)
            label = f"edge {position} ({edge.source} -> {edge.target})"
            for end, code in ((edge.source, "edge_unknown_source"), (edge.target, "edge_unknown_target")):
                if end not in self.nodes:
                    self.add(
                        None,
                        location,
                        code,
                        f"{label}: there is no node '{end}'{_suggest(end, self.ids)}; fix the edge or remove it",
                    )
            if edge.source not in self.nodes or edge.target not in self.nodes:
                continue
            key = (edge.source, edge.target, _output(edge.handle))
            if key in seen:
                self.add(None, location, "duplicate_edge", f"{label}: the same edge appears twice; remove one")
                continue
            seen.add(key)
            if self.check_handle(self.nodes[edge.source], edge.handle, location, label):
                self.exits.add((edge.source, edge.target))
            self.edges[edge.source].append(edge.target)

    def check_handle(self, source: Node, handle: str | None, location: Location, label: str) -> bool:
        """Check an edge's handle against its source's outputs; whether only some runs follow it."""
        spec = self.specs.get(source.id)
        if spec is None:
            return False  # the source's type is unknown, which is reported already
        handles = spec.handles
        output = _output(handle)
        if output == ERROR_OUTPUT:
            if handles.error_output:
                return True
            self.add(
                None,
                (*location, "handle"),
                "bad_handle",
                f"{label}: node '{source.id}' ({source.type}) has no error output; remove the edge or its handle "
                f"'{ERROR_OUTPUT}'",
            )
            return False
        if not handles.routes:
            if output != MAIN_OUTPUT:
                self.add(
                    None,
                    (*location, "handle"),
                    "bad_handle",
                    f"{label}: node '{source.id}' ({source.type}) does not branch, so its edges take no handle; "
                    f"remove the handle '{handle}'",
                )
            return False
        names = handles.output_ids(source.config)
        extra = f" (or '{ERROR_OUTPUT}' for its failures)" if handles.error_output else ""
        listed = ", ".join(repr(name) for name in sorted(names)) or "none (the node has no branches)"
        if handle is None:
            problem = f"node '{source.id}' ({source.type}) branches, so the edge needs a handle"
        elif output not in names:
            problem = f"node '{source.id}' has no branch '{handle}'{_suggest(handle, names)}"
        else:
            return True
        self.add(None, (*location, "handle"), "bad_handle", f"{label}: {problem}; use one of: {listed}{extra}")
        return False

    def check_graph(self) -> dict[str, set[str]]:
        """Check starts, reachability and loops; return each node's ancestors."""
        targets = {target for children in self.edges.values() for target in children}
        starts = [node_id for node_id in self.ids if node_id not in targets]
        if not starts:
            self.add(
                None,
                ("edges",),
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
                        (),
                        "unreachable_node",
                        f"node '{node_id}' cannot be reached from a start node ({', '.join(starts)}); connect it "
                        "to the graph or remove it",
                    )
        for component in _components(self.ids, self.edges):
            inside = set(component)
            if len(component) == 1 and component[0] not in self.edges[component[0]]:
                continue  # no loop
            leaves = any(
                (node_id, target) in self.exits
                for node_id in component
                for target in self.edges[node_id]
                if target not in inside
            )
            if not leaves:
                loop = " -> ".join([*component, component[0]])
                self.add(
                    component[0],
                    (),
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
        prefix: Location,
        ancestors: Mapping[str, set[str]],
        extra_names: frozenset[str] = frozenset(),
    ) -> None:
        readable = SCOPE_NAMES | GLOBAL_NAMES | extra_names
        for path, source in iter_templates(value):
            location = (*prefix, *path)
            field = field_of(location)
            try:
                check_template(source, where=f"node '{node.id}' {field}")
            except TemplateError as exc:
                self.add(node.id, location, "invalid_template", exc.message)
                continue
            for name in sorted(template_variables(source) - readable):
                self.add(
                    node.id,
                    location,
                    "unknown_variable",
                    f"node '{node.id}' {field}: the template reads '{name}', which is not defined"
                    f"{_suggest(name, readable)}; templates can read: {', '.join(sorted(readable))}",
                )
            for ref in sorted(template_references(source)):
                if ref not in ancestors:
                    self.add(
                        node.id,
                        location,
                        "unknown_reference",
                        f"node '{node.id}' {field}: the template reads nodes.{ref}, but there is no node '{ref}'"
                        f"{_suggest(ref, self.ids)}; fix the node id",
                    )
                elif ref not in ancestors[node.id]:
                    self.add(
                        node.id,
                        location,
                        "not_upstream",
                        f"node '{node.id}' {field}: the template reads nodes.{ref}, but '{ref}' cannot run before "
                        f"'{node.id}' (no path of edges leads from it); add an edge path from '{ref}' or read "
                        "another node",
                    )

    # -- triggers --------------------------------------------------------------------------

    def check_poll(self, position: int, trigger: PollTrigger) -> None:
        """The trigger a poll trigger names: installed, of kind trigger, its config valid."""
        location: Location = ("triggers", position)
        label = f"trigger {position} (poll)"
        spec = self.lookup(trigger.trigger, None)
        if spec is None:
            self.add(
                None,
                (*location, "trigger"),
                "unknown_trigger",
                f"{label}: no installed plugin provides the trigger '{trigger.trigger}'"
                f"{_suggest(trigger.trigger, self.known_types)}; install the plugin that provides it or fix the name",
            )
            return
        if spec.kind is not CapabilityKind.TRIGGER or "poll" not in spec.operations:
            self.add(
                None,
                (*location, "trigger"),
                "not_a_trigger",
                f"{label}: '{trigger.trigger}' is a {spec.kind.value}, not a trigger that can be polled; name a "
                "capability of kind trigger",
            )
            return
        for where, problem in _schema_problems(spec.config_schema, trigger.config, (*location, "config")):
            self.add(
                None,
                where,
                "config_invalid",
                f"{label}: {field_of(where)}: {problem}; fix the value to match the config schema of "
                f"'{trigger.trigger}'",
            )

    def check_triggers(self) -> None:
        for position, trigger in enumerate(self.workflow.triggers):
            if isinstance(trigger, PollTrigger):
                self.check_poll(position, trigger)
            if not isinstance(trigger, CronTrigger):
                continue
            location: Location = ("triggers", position)
            zone = ZoneInfo("UTC")
            try:
                zone = ZoneInfo(trigger.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.add(
                    None,
                    (*location, "timezone"),
                    "unknown_timezone",
                    f"trigger {position} (cron): '{trigger.timezone}' is not a known time zone"
                    f"{_suggest(trigger.timezone, available_timezones())}; use an IANA name such as 'Europe/Paris'",
                )
            try:
                ApsCronTrigger.from_crontab(trigger.cron, timezone=zone)
            except ValueError as exc:
                self.add(
                    None,
                    (*location, "cron"),
                    "invalid_cron",
                    f"trigger {position} (cron): '{trigger.cron}' is not a valid cron expression ({exc}); write "
                    "five fields, 'minute hour day month day_of_week', e.g. '0 9 * * mon-fri'",
                )


def _output(handle: str | None) -> str:
    """The output an edge leaves from: no handle is the node's ``main`` output."""
    return MAIN_OUTPUT if handle is None else handle


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
