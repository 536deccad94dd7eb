"""Templates: how data flows between nodes, rendered in a sandbox that cannot run code.

Every string in a node's ``input`` that contains ``{{`` or ``{%`` is a Jinja2 template,
rendered in an :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` against the run's
scope (``nodes``, ``trigger``, ``execution``; ``item`` and ``index`` inside a map). A string
that is exactly one expression keeps the expression's value (an object stays an object);
any other template renders to text. Besides the sandbox's own rules, templates here cannot
include, import, extend or define macros, may call only a safe subset of ``str``, ``list``
and ``dict`` methods, and run under limits on size, steps and time (see ``MAX_*`` below and
docs/workflow-format.md, "Templates").
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import BuiltinMethodType
from typing import Final, TypeAlias

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes, pass_eval_context
from jinja2 import filters as jinja_filters
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer
from pydantic import JsonValue

from synthral.errors import SynthralError, TemplateError

__all__ = [
    "GLOBAL_NAMES",
    "MAP_SCOPE_NAMES",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_RENDER_SECONDS",
    "MAX_SOURCE_CHARS",
    "MAX_STEPS",
    "MAX_VALUE_SIZE",
    "MAX_WORK",
    "SCOPE_NAMES",
    "check_template",
    "is_template",
    "iter_templates",
    "render",
    "template_references",
    "template_variables",
]

MAX_SOURCE_CHARS: Final = 64 * 1024
"""The longest template source, in characters."""
MAX_VALUE_SIZE: Final = 1024 * 1024
"""The most characters (or items) any one string (or list) a template builds may hold,
the rendered text of a template included. Values passed through unchanged are not limited."""
MAX_WORK: Final = 32 * MAX_VALUE_SIZE
"""The most characters and items one render may build in all, over every operation."""
MAX_STEPS: Final = 100_000
"""The most loop iterations, calls and checked operations one render may take."""
MAX_RANGE: Final = 10_000
"""The longest ``range()``."""
MAX_INT_BITS: Final = 4096
"""The largest integer ``*`` and ``**`` may produce, in bits."""
MAX_RENDER_SECONDS: Final = 5.0
"""Wall-clock time one render may take: a backstop behind the limits above."""
_MAX_WIDTH: Final = 10_000  # the widest field a format string may ask for

SCOPE_NAMES: Final = frozenset({"nodes", "trigger", "execution"})
"""The names every template can read."""
MAP_SCOPE_NAMES: Final = frozenset({"item", "index"})
"""The extra names a map node's per-item input can read."""

Scope: TypeAlias = Mapping[str, object]


class _LimitExceeded(Exception):
    """A template went over one of the limits; turned into a TemplateError by ``render``."""


class _NotJson(Exception):
    """A lone expression gave something that is not JSON data."""


# -- the budget of one render -------------------------------------------------------------


@dataclass
class _Budget:
    steps: int = MAX_STEPS
    work: int = MAX_WORK
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_RENDER_SECONDS)


_BUDGET: ContextVar[_Budget | None] = ContextVar("synthral_template_budget", default=None)


def _size(value: object) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | Set) else 0


def _check_size(size: int, what: str = "a value") -> None:
    if size > MAX_VALUE_SIZE:
        raise _LimitExceeded(
            f"builds {what} of {size:,} characters or items, over the limit of {MAX_VALUE_SIZE:,}; "
            "pass large data through unchanged ('{{ nodes.fetch.output.text }}') or shape it in a node"
        )


def _spend(result: object = None) -> None:
    """Count one step and the size of ``result`` against the current render's budget."""
    size = _size(result)
    _check_size(size)
    budget = _BUDGET.get()
    if budget is None:  # constant folding while compiling: only the size limit applies
        return
    budget.steps -= 1
    budget.work -= size
    if budget.steps < 0:
        raise _LimitExceeded(f"takes more than {MAX_STEPS:,} steps (loop iterations and calls); simplify it")
    if budget.work < 0:
        raise _LimitExceeded(f"builds more than {MAX_WORK:,} characters and items in all; simplify it")
    if time.monotonic() > budget.deadline:
        raise _LimitExceeded(f"ran for more than {MAX_RENDER_SECONDS:g} seconds; simplify it")


# -- checks on operations that can build huge values ---------------------------------------

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_widths(widths: list[str], fmt: str) -> None:
    for width in widths:
        if width == "*" or "{" in width or (width.isdigit() and int(width) > _MAX_WIDTH):
            raise _LimitExceeded(
                f"formats with the field width or precision {width!r} in {fmt[:40]!r}; "
                f"use literal widths up to {_MAX_WIDTH:,}"
            )


def _check_percent_format(fmt: str) -> None:
    _check_widths([part for match in _PERCENT_SPEC.finditer(fmt) for part in match.groups() if part], fmt)


def _check_brace_format(fmt: str) -> None:
    try:
        specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(fmt)]
    except ValueError:
        return  # str.format raises the same error, with its own message
    _check_widths([part for spec in specs for part in ([spec] if "{" in spec else re.findall(r"\d+", spec))], fmt)


def _check_binop(operator: str, left: object, right: object) -> None:
    sequences = str | list | tuple  # type: ignore[type-arg]  # a runtime isinstance() check
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > MAX_INT_BITS:
                raise _LimitExceeded(f"multiplies to a number of about {bits} bits, over {MAX_INT_BITS}")
        elif isinstance(left, sequences) and isinstance(right, int):
            _check_size(len(left) * right, "a repeated value")
        elif isinstance(right, sequences) and isinstance(left, int):
            _check_size(len(right) * left, "a repeated value")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        if right * math.log2(abs(left)) > MAX_INT_BITS:
            raise _LimitExceeded(f"raises {left} to the power {right}, a number over {MAX_INT_BITS} bits")
    elif operator == "+" and isinstance(left, sequences) and isinstance(right, sequences):
        _check_size(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left)


def _check_str_method(name: str, text: str, args: tuple[object, ...], kwargs: Mapping[str, object]) -> None:
    """Refuse a call of ``text.<name>(...)`` whose result would be over the size limit."""
    if name in {"center", "ljust", "rjust", "zfill"}:
        width = args[0] if args else kwargs.get("width", 0)
        _check_size(width if isinstance(width, int) else 0, f"a string padded by {name}()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _check_replace(text, args[0], args[1], args[2] if len(args) > 2 else None)
    elif name == "join" and args and isinstance(args[0], str | list):
        _check_size(_joined_size(len(text), args[0]), "a joined string")


def _joined_size(separator: int, items: str | list[object]) -> int:
    parts = len(items) if isinstance(items, str) else sum(map(_size, items))
    return separator * max(len(items) - 1, 0) + parts


def _check_replace(text: str, old: str, new: str, count: object) -> None:
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    _check_size(len(text) + times * (len(new) - len(old)), "a string with replacements")


# -- filters ------------------------------------------------------------------------------


def _planned(original: Callable[..., object], plan: Callable[..., None]) -> Callable[..., object]:
    """``original`` (a Jinja filter), preceded by ``plan``, which raises when the result would be too big.

    ``functools.wraps`` copies the ``pass_eval_context``/``pass_environment`` markers, so
    both receive the same arguments.
    """

    @functools.wraps(original)
    def checked(*args: object, **kwargs: object) -> object:
        plan(*args, **kwargs)
        result = original(*args, **kwargs)
        _spend(result)
        return result

    return checked


def _plan_center(value: object, width: int = 80) -> None:
    _check_size(width, "a centred string")


def _plan_indent(text: object, width: int | str = 4, first: bool = False, blank: bool = False) -> None:
    lines = str(text).count("\n") + 1
    _check_size(len(str(text)) + lines * (len(width) if isinstance(width, str) else width), "an indented string")


def _plan_wordwrap(env: object, text: object, width: int = 79, *args: object, **kwargs: object) -> None:
    wrap = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    pieces = len(str(text)) // max(width, 1) + 1
    _check_size(len(str(text)) + pieces * len(str(wrap or "\n")), "a wrapped string")


def _plan_replace(eval_ctx: object, text: object, old: object, new: object, count: object = None) -> None:
    _check_replace(str(text), str(old), str(new), count)


def _plan_format(value: object, *args: object, **kwargs: object) -> None:
    _check_percent_format(str(value))


def _plan_slice(value: object, slices: int, fill_with: object = None) -> None:
    if slices > MAX_RANGE:
        raise _LimitExceeded(f"slices into {slices:,} parts, over {MAX_RANGE:,}")


def _plan_batch(value: object, linecount: int, fill_with: object = None) -> None:
    if fill_with is not None:
        _check_size(linecount, "a filled batch")


def _plan_sum(env: object, iterable: object, attribute: object = None, start: object = 0) -> None:
    if not isinstance(start, int | float):
        raise _LimitExceeded("sums from a start that is not a number; sum adds numbers (join texts with 'join')")


def _plan_tojson(eval_ctx: object, value: object, indent: int | str | None = None) -> None:
    if isinstance(indent, int | str) and (len(indent) if isinstance(indent, str) else indent) > 16:
        raise _LimitExceeded(f"indents JSON by {indent!r}; use at most 16")


@pass_eval_context
def _join(eval_ctx: EvalContext, value: object, d: str = "", attribute: str | int | None = None) -> str:
    items = value if isinstance(value, str) else list(value)  # type: ignore[call-overload]  # as in Jinja
    _check_size(_joined_size(len(str(d)), items), "a joined string")
    result = jinja_filters.sync_do_join(eval_ctx, items, d, attribute)
    _spend(result)
    return result


def _fromjson(text: str) -> object:
    """Parse a JSON text into a value."""
    _spend(text)
    return json.loads(text)


def _b64encode(text: str) -> str:
    """Base64 of a text's UTF-8 bytes."""
    return base64.b64encode(str(text).encode()).decode("ascii")


def _b64decode(text: str) -> str:
    """The UTF-8 text whose base64 is ``text``."""
    return base64.b64decode(str(text), validate=True).decode()


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _LimitExceeded(f"asks for range() of {len(numbers):,} numbers, over {MAX_RANGE:,}")
    return numbers


def _finalize(value: object) -> object:
    """How ``{{ value }}`` prints: objects, lists, booleans and null as JSON, the rest as text."""
    if value is None or isinstance(value, bool | dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)  # str() of an undefined raises
    return value


# -- the environment ----------------------------------------------------------------------

_SAFE_METHODS: Final[tuple[tuple[type, frozenset[str]], ...]] = (
    (
        str,
        frozenset({"capitalize", "casefold", "center", "count", "endswith", "find", "format", "format_map"})
        | frozenset({"index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower"})
        | frozenset({"isnumeric", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition"})
        | frozenset({"removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit"})
        | frozenset({"rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"}),
    ),
    (Mapping, frozenset({"get", "items", "keys", "values"})),
    (list, frozenset({"count", "index", "copy"})),
    (tuple, frozenset({"count", "index"})),
)
_FORMATS: Final = frozenset({"format", "format_map"})
_HELPER_TYPES: Final = (LoopContext, Cycler, Joiner, Namespace, range)
_FORBIDDEN_TAGS: Final[tuple[tuple[type[nodes.Node], str], ...]] = (
    (nodes.Extends, "{% extends %}"),
    (nodes.Include, "{% include %}"),
    (nodes.Import, "{% import %}"),
    (nodes.FromImport, "{% from ... import %}"),
    (nodes.Macro, "{% macro %}"),
    (nodes.CallBlock, "{% call %}"),
    (nodes.Block, "{% block %}"),
    (nodes.AssignBlock, "{% set %} ... {% endset %}"),
    (nodes.FilterBlock, "{% filter %}"),
)


class _Guard(NodeTransformer):
    """Route ``~`` and every ``for`` loop's iterable through the environment's checks."""

    def __init__(self, env: _SafeEnvironment) -> None:
        self.env = env

    def _call(self, method: str, arg: nodes.Expr, lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(method), [arg], [], None, None)
        return call.set_lineno(lineno).set_environment(self.env)  # type: ignore[return-value]  # returns self

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802 -- NodeVisitor's naming
        self.generic_visit(node)
        return self._call("checked_concat", nodes.List(node.nodes), node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802 -- NodeVisitor's naming
        self.generic_visit(node)
        if node.recursive:
            raise TemplateSyntaxError("recursive loops are not available in templates; nest loops instead", node.lineno)
        node.iter = self._call("checked_iter", node.iter, node.lineno)  # type: ignore[arg-type]  # an Expr
        return node


class _SafeEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with the limits and restrictions described in the module docstring."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, undefined=StrictUndefined, finalize=_finalize, keep_trailing_newline=True)
        self.globals = {name: self.globals[name] for name in ("dict", "namespace", "cycler", "joiner")}
        self.globals["range"] = _safe_range
        self.filters.pop("random")  # templates render the same way every time
        plans: dict[str, tuple[Callable[..., object], Callable[..., None]]] = {
            "center": (jinja_filters.do_center, _plan_center),
            "indent": (jinja_filters.do_indent, _plan_indent),
            "wordwrap": (jinja_filters.do_wordwrap, _plan_wordwrap),
            "replace": (jinja_filters.do_replace, _plan_replace),
            "format": (jinja_filters.do_format, _plan_format),
            "slice": (jinja_filters.sync_do_slice, _plan_slice),
            "batch": (jinja_filters.do_batch, _plan_batch),
            "tojson": (jinja_filters.do_tojson, _plan_tojson),
            "sum": (jinja_filters.sync_do_sum, _plan_sum),
        }
        for name, (original, plan) in plans.items():
            self.filters[name] = _planned(original, plan)
        self.filters.update(join=_join, fromjson=_fromjson, b64encode=_b64encode, b64decode=_b64decode)

    def is_safe_attribute(self, obj: object, attr: str, value: object) -> bool:
        """Allow data, a safe subset of their methods, and Jinja's loop helpers; nothing on classes."""
        if isinstance(obj, type) or not super().is_safe_attribute(obj, attr, value):
            return False
        for kind, allowed in _SAFE_METHODS:
            if isinstance(obj, kind):
                return attr in allowed
        return isinstance(obj, _HELPER_TYPES)

    def getattr(self, obj: object, attribute: str) -> object:
        """``a.b`` reads the key ``b`` of an object before any method of that name (``data.items``)."""
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: object) -> Callable[..., str] | None:
        """Check the field widths of ``'...'.format()`` before the sandbox's own wrapper runs."""
        if isinstance(value, BuiltinMethodType) and isinstance(value.__self__, str) and value.__name__ in _FORMATS:
            _check_brace_format(value.__self__)
        return super().wrap_str_format(value)

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        """Run ``+ * ** %`` after checking their result cannot be huge."""
        _check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        _spend(result)
        return result

    def call(self, context: Context, obj: object, /, *args: object, **kwargs: object) -> object:
        """Call ``obj`` from a template: count the step and check the result's size."""
        _spend()
        if isinstance(obj, BuiltinMethodType) and isinstance(obj.__self__, str):
            if obj.__name__ == "join" and args and not isinstance(args[0], str):
                args = (list(args[0]), *args[1:])  # type: ignore[call-overload]  # join iterates it anyway
            _check_str_method(obj.__name__, obj.__self__, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        _spend(result)
        return result

    def checked_concat(self, parts: list[object]) -> str:
        """``a ~ b``: join the parts' text, within the size limit."""
        texts = [str(part) for part in parts]
        _check_size(sum(map(len, texts)))
        return "".join(texts)

    def checked_iter(self, iterable: object) -> Iterator[object]:
        """A loop's iterable, counting every iteration as a step."""
        if isinstance(iterable, Undefined):
            str(iterable)  # a strict undefined raises its own, clearer error here
        for item in iterable:  # type: ignore[attr-defined]  # not iterable raises TypeError, as in Jinja
            _spend()
            yield item

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        for kind, tag in _FORBIDDEN_TAGS:
            found = next(iter(source.find_all(kind)), None)
            if found is not None:
                raise TemplateSyntaxError(f"{tag} is not available in workflow templates", found.lineno)
        _Guard(self).visit(source)
        return super()._generate(source, name, filename, defer_init)


_ENV: Final = _SafeEnvironment()


# -- compiling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    expression: TemplateExpression | None = None
    template: Template | None = None


def is_template(text: str) -> bool:
    """Whether a string is a template (contains ``{{`` or ``{%``)."""
    return "{{" in text or "{%" in text


def _short(source: str) -> str:
    return repr(source if len(source) <= 80 else source[:77] + "...")


def _error(source: str, where: str, problem: str, kind: str, **details: JsonValue) -> TemplateError:
    return TemplateError(
        f"{where}: the template {_short(source)} {problem}",
        details={"where": where, "template": source[:500], "problem": kind, **details},
    )


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> _Compiled:
    """Compile a template once; a lone ``{{ expression }}`` becomes an expression keeping its type."""
    stripped = source.strip()
    body = _ENV.parse(stripped).body
    lone = len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1
    if lone and stripped.startswith("{{") and stripped.endswith("}}"):
        output = body[0].nodes[0]  # type: ignore[attr-defined]  # an Output, checked above
        if not isinstance(output, nodes.TemplateData):
            inner = stripped[2:-2]
            inner = inner[1:] if inner[:1] in "-+" else inner  # whitespace control: {{- x -}}
            inner = inner[:-1] if inner[-1:] in "-+" else inner
            return _Compiled(expression=_ENV.compile_expression(inner, undefined_to_none=False))
    return _Compiled(template=_ENV.from_string(source))


def _compiled(source: str, where: str) -> _Compiled:
    if len(source) > MAX_SOURCE_CHARS:
        raise _error(
            source,
            where,
            f"is {len(source):,} characters long, over the limit of {MAX_SOURCE_CHARS:,}; shorten it",
            "too_long",
        )
    try:
        return _compile(source)
    except TemplateSyntaxError as exc:
        raise _error(
            source,
            where,
            f"has a syntax error on line {exc.lineno}: {exc.message}; fix the template "
            "(docs/workflow-format.md, 'Templates')",
            "syntax",
            line=exc.lineno,
        ) from None
    except RecursionError:
        raise _error(source, where, "is nested too deeply to compile; simplify it", "syntax") from None


def check_template(source: str, *, where: str) -> None:
    """Compile ``source``, raising what rendering it would raise for its syntax.

    Raises:
        TemplateError: The template is too long, has a syntax error or uses a tag
            templates may not use (``include``, ``import``, ``macro``...).
    """
    _compiled(source, where)


def iter_templates(value: JsonValue, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every template string in ``value``, with its path (``("body", "items", 2)``), in order."""
    if isinstance(value, str):
        if is_template(value):
            yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from iter_templates(child, (*path, key))
    elif isinstance(value, list):
        for position, child in enumerate(value):
            yield from iter_templates(child, (*path, position))


def _parsed(value: JsonValue) -> Iterator[nodes.Template]:
    for _, source in iter_templates(value):
        try:
            yield _ENV.parse(source)
        except (TemplateSyntaxError, RecursionError):
            continue  # check_template reports it


def template_references(value: JsonValue) -> set[str]:
    """The node ids that ``value``'s templates read as ``nodes.<id>`` or ``nodes['<id>']``.

    Only literal references count; a template that computes the id cannot be checked.
    """
    found: set[str] = set()
    for ast in _parsed(value):
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            target = node.node if isinstance(node, nodes.Getattr | nodes.Getitem) else None
            if not (isinstance(target, nodes.Name) and target.name == "nodes" and target.ctx == "load"):
                continue
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif (
                isinstance(node, nodes.Getitem)
                and isinstance(node.arg, nodes.Const)
                and isinstance(node.arg.value, str)
            ):
                found.add(node.arg.value)
    return found


def template_variables(value: JsonValue) -> set[str]:
    """The top-level names ``value``'s templates read from the scope (not the ones they set)."""
    return {name for ast in _parsed(value) for name in meta.find_undeclared_variables(ast)}


GLOBAL_NAMES: Final = frozenset(_ENV.globals)
"""The helpers every template can call: ``range``, ``dict``, ``namespace``, ``cycler``, ``joiner``."""


# -- rendering ----------------------------------------------------------------------------


def _to_json(value: object) -> JsonValue:
    if isinstance(value, Undefined):
        str(value)  # raises the undefined's error
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, Iterable):  # lists, tuples, ranges, sets, dict views, generators
        return [_to_json(item) for item in value]
    raise _NotJson(f"gives a {type(value).__name__}, which is not JSON data; end the expression in data")


def _render_one(compiled: _Compiled, scope: Scope) -> JsonValue:
    if compiled.expression is not None:
        return _to_json(compiled.expression(scope))
    assert compiled.template is not None  # one of the two is set
    chunks: list[str] = []
    size = 0
    for chunk in compiled.template.generate(scope):
        size += len(chunk)
        _check_size(size, "text")
        chunks.append(chunk)
    return "".join(chunks)


def _nodes_hint(scope: Scope) -> str:
    ran = scope.get("nodes")
    names = ", ".join(sorted(map(str, ran))) if isinstance(ran, Mapping) else ""
    return (
        f"nodes that have run: {names or 'none'}. Check the spelling, or guard optional values with "
        "'is defined' or '| default(...)'"
    )


def _render_value(value: JsonValue, scope: Scope, where: str, path: str) -> JsonValue:
    if isinstance(value, dict):
        return {key: _render_value(item, scope, where, f"{path}.{key}" if path else key) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, scope, where, f"{path}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, str) or not is_template(value):
        return value
    here = f"{where} '{path}'" if path else where
    compiled = _compiled(value, here)
    try:
        return _render_one(compiled, scope)
    except UndefinedError as exc:
        problem = f"reads something that is not defined ({exc.message}); {_nodes_hint(scope)}"
        raise _error(value, here, problem, "undefined") from None
    except SecurityError as exc:
        problem = (
            f"tried something templates may not do ({exc.message}); templates read data only: keys, "
            "attributes not starting with '_', filters and the string, list and object methods listed in "
            "docs/workflow-format.md"
        )
        raise _error(value, here, problem, "security") from None
    except _LimitExceeded as exc:
        raise _error(value, here, str(exc), "limit") from None
    except _NotJson as exc:
        raise _error(value, here, str(exc), "not_json") from None
    except RecursionError:
        raise _error(value, here, "recurses too deeply; simplify it", "limit") from None
    except (SynthralError, OSError):
        raise  # from the scope itself (an output loaded from the blob store), not the template
    except Exception as exc:
        # Templates run user expressions: any error of theirs (TypeError, ZeroDivisionError...)
        # is the template's fault and must reach the user as one.
        problem = f"failed with {type(exc).__name__}: {exc}; fix the template or the data it reads"
        raise _error(value, here, problem, "runtime") from exc


def render(value: JsonValue, scope: Scope, *, where: str) -> JsonValue:
    """Render every template in ``value`` (walking objects and lists) against ``scope``.

    A string that is exactly one expression (``"{{ nodes.fetch.output.json }}"``) becomes
    the expression's value, as JSON data; any other template becomes text. Strings without
    ``{{`` or ``{%`` and other values are returned unchanged.

    Args:
        value: A node's input (or any JSON value) holding templates.
        scope: The names templates read: ``nodes`` (id → ``{"output", "branch"}`` of the
            nodes that ran), ``trigger``, ``execution``, and ``item``/``index`` in a map.
        where: What is being rendered, for error messages (``"node 'summarize' input"``);
            the path of the failing string inside ``value`` is appended.

    Returns:
        A new value; ``value`` and ``scope`` are not modified.

    Raises:
        TemplateError: A template has a syntax error, reads an undefined name, tries
            something the sandbox forbids, goes over a limit or fails.
    """
    token = _BUDGET.set(_Budget())
    try:
        return _render_value(value, scope, where, "")
    finally:
        _BUDGET.reset(token)
