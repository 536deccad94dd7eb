"""Templates: rendering, native values, errors, the sandbox's walls and the limits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import JsonValue

from synthral.engine import templates
from synthral.engine.templates import (
    MAX_SOURCE_CHARS,
    check_template,
    iter_templates,
    render,
    template_references,
    template_variables,
)
from synthral.errors import ConfigurationError, RetryableError, TemplateError


def scope() -> dict[str, Any]:
    return {
        "nodes": {
            "fetch": {
                "output": {
                    "status": 200,
                    "json": {"title": "Hello", "items": [{"n": 1}, {"n": 2}, {"n": 3}], "ratio": 0.5, "ok": True},
                },
                "branch": None,
            },
            "check": {"output": {"data": None}, "branch": "true"},
        },
        "trigger": {"url": "https://example.com/a.json", "items": ["x", "y"], "who": "Ada"},
        "execution": {"id": "e1", "workflow": "demo", "version": 3, "started_at": "2026-01-02T03:04:05+00:00"},
    }


def one(template: str, data: dict[str, Any] | None = None) -> Any:
    return render(template, scope() if data is None else data, where="node 'n' input 'f'")


def fails(template: str, match: str = "", data: dict[str, Any] | None = None) -> TemplateError:
    with pytest.raises(TemplateError, match=match) as caught:
        one(template, data)
    return caught.value


# -- normal use -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ nodes.fetch.output.json }}", scope()["nodes"]["fetch"]["output"]["json"]),
        ("{{ nodes.fetch.output.json.items }}", [{"n": 1}, {"n": 2}, {"n": 3}]),
        ("{{ nodes['fetch'].output.status }}", 200),
        ("  {{ nodes.fetch.output.json.ratio }}\n", 0.5),
        ("{{- nodes.fetch.output.json.ok -}}", True),
        ("{{ nodes.check.output.data }}", None),
        ("{{ trigger.items }}", ["x", "y"]),  # a key named like a dict method is the key
        ("{{ nodes.fetch.output.json['items'][1].n * 10 + 1 }}", 21),
        ("{{ nodes.fetch.output.json['items'] | map(attribute='n') | list }}", [1, 2, 3]),
        ("{{ nodes.fetch.output.json['items'] | map(attribute='n') }}", [1, 2, 3]),
        ("{{ nodes.fetch.output.json['items'] | map(attribute='n') | sum }}", 6),
        ("{{ {'a': trigger.who, 'n': [1, 2]} }}", {"a": "Ada", "n": [1, 2]}),
        ("{{ trigger.keys() | list }}", ["url", "items", "who"]),
        ("{{ 'yes' if nodes.fetch.output.status == 200 else 'no' }}", "yes"),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ '{\"a\": [1]}' | fromjson }}", {"a": [1]}),
        ("{{ trigger.who | b64encode | b64decode }}", "Ada"),
        ("{{ missing | default('fallback') }}", "fallback"),
        ("{{ nodes.nope is defined }}", False),
        ("{{ execution.started_at[:10] }}", "2026-01-02"),
        ("{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 1 / 4 }}", "3 1 1024 0.25"),
        ("{{ 2 ** 4000 == (2 ** 2000) * (2 ** 2000) }}", True),
    ],
)
def test_renders_values_and_keeps_native_types(template: str, expected: object) -> None:
    assert one(template) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Title: {{ nodes.fetch.output.json.title | upper }}", "Title: HELLO"),
        (
            "{% for item in nodes.fetch.output.json['items'] %}{{ item.n }}{{ '' if loop.last else ',' }}{% endfor %}",
            "1,2,3",
        ),
        ("{% if trigger.who == 'Ada' %}hi {{ trigger.who }}{% else %}who?{% endif %}", "hi Ada"),
        ("{% set total = nodes.fetch.output.json['items'] | sum(attribute='n') %}total={{ total }}", "total=6"),
        ("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "6"),
        ("{% with who = trigger.who %}{{ who ~ '!' }}{% endwith %}", "Ada!"),
        ("{{ trigger.who }} and {{ trigger.items | join(', ') }}", "Ada and x, y"),
        ("{{ nodes.check.output.data }}|{{ true }}|{{ [1, 'a'] }}|{{ {'k': none} }}", 'null|true|[1, "a"]|{"k": null}'),
        ("{{ nodes.fetch.output.json | tojson }}", None),  # checked below: JSON text
        ("{{ '%s has %d items' % (trigger.who, 2) }}", "Ada has 2 items"),
        ("{{ '{} / {:>5}'.format(trigger.who, 7) }}", "Ada /     7"),
        ("line\n{{ trigger.who }}\n", "line\nAda\n"),
        ("{{ 'a' }}{{ 'b' }}", "ab"),
        ("{{ 3 }}!", "3!"),
    ],
)
def test_other_templates_render_to_text(template: str, expected: str | None) -> None:
    result = one(template)
    assert isinstance(result, str)
    if expected is not None:
        assert result == expected
    else:
        assert result.startswith('{"items": [{"n": 1}')


def test_walks_objects_and_lists_and_leaves_plain_values_alone() -> None:
    value: JsonValue = {
        "url": "{{ trigger.url }}",
        "plain": "no template {here}",
        "headers": {"X-Who": "user {{ trigger.who }}"},
        "list": ["{{ nodes.fetch.output.status }}", 5, None, {"deep": "{{ execution.version }}"}],
        "flag": True,
    }
    original = repr(value)
    assert render(value, scope(), where="node 'n' input") == {
        "url": "https://example.com/a.json",
        "plain": "no template {here}",
        "headers": {"X-Who": "user Ada"},
        "list": [200, 5, None, {"deep": 3}],
        "flag": True,
    }
    assert repr(value) == original


def test_reads_any_mapping_as_scope_data() -> None:
    frozen = {
        **scope(),
        "nodes": MappingProxyType({"get": MappingProxyType({"output": MappingProxyType({"items": [1]})})}),
    }
    assert one("{{ nodes.get.output.items }}", frozen) == [1]
    assert one("{{ nodes.get.output }}", frozen) == {"items": [1]}


def test_item_and_index_in_a_map_scope() -> None:
    data = {**scope(), "item": {"url": "https://a"}, "index": 2}
    assert one("{{ item.url }}#{{ index + 1 }}", data) == "https://a#3"


def test_compiled_templates_are_cached_by_source() -> None:
    source = "{{ trigger.who }} cached"
    one(source)
    before = templates._compile.cache_info().hits
    one(source)
    one(source)
    assert templates._compile.cache_info().hits == before + 2


# -- errors -----------------------------------------------------------------------------------


def test_undefined_names_fail_naming_the_template_the_place_and_what_is_missing() -> None:
    error = fails("{{ nodes.fetch.output.json.nope }}", "has no attribute 'nope'")
    assert "node 'n' input 'f'" in error.message
    assert "'{{ nodes.fetch.output.json.nope }}'" in error.message
    assert error.details["problem"] == "undefined"
    assert error.details["where"] == "node 'n' input 'f'"
    assert isinstance(error, ConfigurationError)
    fails("{{ nodes.ghost.output }}", "nodes that have run: check, fetch")
    fails("{{ trigerr.url }}", "'trigerr' is undefined")
    fails("Hello {{ trigger.nobody }}!", "has no attribute 'nobody'")
    fails("{% for x in nothing %}{% endfor %}", "'nothing' is undefined")
    fails("{{ [missing] }}", "'missing' is undefined")


def test_the_path_inside_the_value_is_part_of_the_place() -> None:
    with pytest.raises(TemplateError, match=r"node 'n' input 'headers.X-Id\[1\]'"):
        render({"headers": {"X-Id": ["ok", "{{ nope }}"]}}, scope(), where="node 'n' input")


def test_syntax_errors_name_the_line() -> None:
    error = fails("{{ trigger.who }}\n{{ trigger.who + }}", "syntax error on line 2")
    assert error.details["line"] == 2
    assert error.details["problem"] == "syntax"
    fails("{% if x %}no end", "syntax error on line 1")
    with pytest.raises(TemplateError, match="syntax error on line 1"):
        check_template("{{ ) }}", where="node 'n' input 'f'")
    check_template("{{ fine }}", where="node 'n' input 'f'")


def test_errors_of_the_expression_itself_become_template_errors() -> None:
    fails("{{ 1 / 0 }}", "ZeroDivisionError")
    fails("{{ trigger.who + 1 }}", "TypeError")
    fails("{{ 'not json' | fromjson }}", "JSONDecodeError")
    fails("{{ 'x' | b64decode }}", "Error")
    fails("{{ trigger.items.index('zzz') }}", "ValueError")


def test_a_lone_expression_must_give_json_data() -> None:
    assert fails("{{ cycler }}", "gives a type, which is not JSON data").details["problem"] == "not_json"
    fails("{{ trigger.who.upper }}", "not JSON data")


class UnreachableOutputs(Mapping[str, object]):
    """Outputs loaded on access from a store that is down, as the engine's scope loads them."""

    def __getitem__(self, key: str) -> object:
        raise RetryableError("the blob store is not reachable")

    def __iter__(self) -> Iterator[str]:
        return iter(["fetch"])

    def __len__(self) -> int:
        return 1


def test_errors_of_the_scope_itself_pass_through_unchanged() -> None:
    data = {**scope(), "nodes": UnreachableOutputs()}
    with pytest.raises(RetryableError, match="not reachable"):
        one("{{ nodes.fetch.output }}", data)
    with pytest.raises(RetryableError):
        one("status: {{ nodes['fetch'].output.status }}", data)


# -- the sandbox ------------------------------------------------------------------------------


class Recorder:
    """A real object in the scope whose methods would record being called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def run(self) -> str:
        self.calls.append("run")
        return "ran"

    def __str__(self) -> str:
        return "recorder"


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ joiner().__call__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ namespace().__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request.application.__globals__.__builtins__ }}",
    "{{ config.__class__.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(trigger) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ '{a.__class__}'.format_map({'a': trigger}) }}",
    "{{ '%(x)s'.__mod__ }}",
    "{{ trigger.__class__ }}",
    "{{ trigger['__class__'] }}",
    "{{ trigger | attr('__class__') }}",
    "{{ trigger.items | map(attribute='__class__') | list }}",
    "{{ dict.__subclasses__() }}",
    "{{ dict.mro() }}",
    "{{ range.__init__ }}",
    "{{ trigger.who.encode() }}",
    "{{ trigger.who.translate({}) }}",
    "{{ (1).to_bytes(10**9, 'big') }}",
    "{{ recorder.run() }}",
    "{{ recorder.run }}",
    "{{ nodes.fetch.output.json['items'].append(1) }}",
    "{% set x = trigger.who.__class__ %}{{ x }}",
    "{% set x = cycler %}{{ x.__init__ }}",
    "{% set f = trigger.pop %}{{ f('who') }}",
    "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
    "{{ loop }}",
    "{{ __builtins__ }}",
    "{{ lipsum }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_known_sandbox_escapes_fail_cleanly_and_run_nothing(template: str) -> None:
    recorder = Recorder()
    data = {**scope(), "recorder": recorder}
    with pytest.raises(TemplateError) as caught:
        one(template, data)
    assert caught.value.details["problem"] in {"security", "undefined", "runtime", "not_json"}
    assert recorder.calls == []


def test_format_and_percent_formatting_read_only_safe_data() -> None:
    # '%s' only calls str(); it cannot walk attributes, so it shows no more than printing does.
    assert one("{{ '%s' % trigger.who }}") == "Ada"
    assert one("{{ '%(who)s' % trigger }}") == "Ada"
    fails("{{ '%(nope)s' % trigger }}", "KeyError")
    fails("{{ '{0.__class__}'.format(trigger.who) }}", "may not do")


@pytest.mark.parametrize(
    ("template", "tag"),
    [
        ("{% include 'other.txt' %}", "include"),
        ("{% import 'macros.txt' as m %}", "import"),
        ("{% from 'macros.txt' import m %}", "from"),
        ("{% extends 'base.txt' %}", "extends"),
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "macro"),
        ("{% call range(1) %}x{% endcall %}", "call"),
        ("{% block b %}x{% endblock %}", "block"),
        ("{% set x %}{{ trigger.who }}{% endset %}{{ x }}", "set"),
        ("{% filter upper %}x{% endfilter %}", "filter"),
        ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursive loops"),
    ],
)
def test_tags_that_reach_outside_or_build_unchecked_text_are_refused(template: str, tag: str) -> None:
    error = fails(template, f"{tag}.* not available")
    assert error.details["problem"] == "syntax"
    with pytest.raises(TemplateError, match="not available"):
        check_template(template, where="node 'n' input 'f'")


def test_scope_data_cannot_be_changed() -> None:
    data = scope()
    attempts = [
        "{{ trigger.update({'who': 'Eve'}) }}",
        "{{ dict.update(trigger, {'who': 'Eve'}) }}",
        "{{ trigger.setdefault('new', 1) }}",
        "{{ trigger.pop('who') }}",
        "{{ trigger.clear() }}",
        "{{ trigger['items'].append('z') }}",
        "{{ trigger['items'].extend(['z']) }}",
        "{{ trigger['items'].sort() }}",
        "{% set trigger.who = 'Eve' %}",
        "{% set ns = namespace(d=trigger) %}{{ ns.d.update({'who': 'Eve'}) }}",
    ]
    for attempt in attempts:
        with pytest.raises(TemplateError):
            render(attempt, data, where="node 'n' input 'f'")
    assert data == scope()


def test_set_only_binds_names_inside_the_template() -> None:
    data = scope()
    assert one("{% set trigger = {'who': 'Eve'} %}{{ trigger.who }}", data) == "Eve"
    assert data["trigger"]["who"] == "Ada"
    assert one("{{ trigger.who }}", data) == "Ada"


# -- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("{{ 'a' * 10**9 }}", "repeated value of 1,000,000,000"),
        ("{{ [0] * 10**9 }}", "repeated value"),
        ("{{ 10**9 * 'a' }}", "repeated value"),
        ("{{ 2 ** (10**8) }}", "to the power 100000000"),
        ("{{ 99 ** 99999 }}", "to the power"),
        ("{% set n = 2 ** 2000 %}{{ n * n * n }}", "multiplies"),
        ("{{ range(10**9) | list }}", "range"),
        ("{% for i in range(10**6) %}{% endfor %}", "range"),
        ("{% for x in range(10000) %}{% for y in range(10000) %}{% endfor %}{% endfor %}", "steps"),
        ("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "text of"),
        ("{% set a = 'a' * 1000000 %}{{ a ~ a }}", "value of 2,000,000"),
        ("{% set a = 'a' * 1000000 %}{{ a + a }}", "value of 2,000,000"),
        ("{% set a = ['a'] * 1000000 %}{{ a + a }}", "value of 2,000,000"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "value of",
        ),
        ("{% set a = 'a' * 100000 %}{{ a | replace('a', a) }}", "replacements"),
        ("{% set a = 'a' * 100000 %}{{ a.replace('a', a) }}", "replacements"),
        ("{% set a = 'a' * 100000 %}{{ a.join(a) }}", "joined"),
        ("{% set a = 'a' * 100000 %}{{ a | join(a) }}", "joined"),
        ("{% set a = 'a' * 100000 %}{{ range(100) | join(a) }}", "joined"),
        ("{{ 'a'.ljust(10**8) }}", "padded"),
        ("{{ 'a'.zfill(10**8) }}", "padded"),
        ("{{ 'a' | center(10**8) }}", "centred"),
        ("{{ 'a\nb' | indent(10**8) }}", "indented"),
        ("{% set a = 'a' * 100000 %}{{ a | wordwrap(1, wrapstring=a) }}", "wrapped"),
        ("{{ '%999999999d' % 1 }}", "width"),
        ("{{ '%*d' % (10**8, 1) }}", "width"),
        ("{{ '%.999999999f' % 1 }}", "width"),
        ("{{ '%999999999d' | format(1) }}", "width"),
        ("{{ '{:>999999999}'.format(1) }}", "width"),
        ("{{ '{:{w}}'.format(1, w=10**8) }}", "width"),
        ("{{ '{x:>999999999}'.format_map({'x': 1}) }}", "width"),
        ("{{ [1, 2] | batch(10**9, 0) | list }}", "batch"),
        ("{{ [1, 2] | slice(10**9) | list }}", "slices"),
        ("{{ [[1]] * 1000 | sum(start=[]) }}", "sum adds numbers"),
        ("{{ trigger | tojson(indent=10**6) }}", "indents"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested too deeply"),
    ],
)
def test_limits_fail_fast_with_a_template_error(template: str, match: str) -> None:
    error = fails(template, match)
    assert error.details["problem"] in {"limit", "syntax"}


def test_source_length_is_capped() -> None:
    error = fails("{{ 1 }}" + " " * MAX_SOURCE_CHARS, "over the limit of 65,536")
    assert error.details["problem"] == "too_long"
    long_plain = "x" * (MAX_SOURCE_CHARS * 2)
    assert one(long_plain) == long_plain  # not a template: not limited


def test_values_passed_through_unchanged_are_not_limited() -> None:
    big = "z" * (3 * 1024 * 1024)
    data = {**scope(), "trigger": {"text": big, "rows": list(range(2_000_000))}}
    assert one("{{ trigger.text }}", data) == big
    assert len(one("{{ trigger.rows }}", data)) == 2_000_000
    assert one("{{ trigger.text | length }}", data) == len(big)
    with pytest.raises(TemplateError, match="text of"):
        one("text: {{ trigger.text }}", data)


def test_the_budget_is_per_render() -> None:
    source = "{% for i in range(9000) %}{% endfor %}ok"
    for _ in range(20):  # 180,000 iterations in all, each render well within its own budget
        assert one(source) == "ok"


# -- introspection for the validator ----------------------------------------------------------


def test_template_references_find_literal_node_ids() -> None:
    value: JsonValue = {
        "a": "{{ nodes.fetch.output.json }}",
        "b": ["{% for x in nodes['check'].output %}{{ x }}{% endfor %}", "{{ nodes[trigger.pick] }}"],
        "c": {"d": "{{ nodes.fetch.output.status }} and {{ other.nodes.x }}"},
        "e": "{{ broken",
        "f": "plain nodes.not_a_template",
    }
    assert template_references(value) == {"fetch", "check"}
    assert template_references("{{ nodes.a.output.b.c }}") == {"a"}


def test_template_variables_are_the_names_read_from_the_scope() -> None:
    value: JsonValue = {
        "a": "{% set y = 1 %}{{ y }} {{ nodes.a }} {{ trigger.x }}",
        "b": ["{% for i in item %}{{ i }}{% endfor %}"],
    }
    assert template_variables(value) == {"nodes", "trigger", "item"}


def test_iter_templates_gives_each_template_with_its_path() -> None:
    value: JsonValue = {"a": "{{ x }}", "b": [1, "{% if y %}{% endif %}", {"c": "{{ z }}"}], "d": "plain"}
    assert list(iter_templates(value)) == [
        (("a",), "{{ x }}"),
        (("b", 1), "{% if y %}{% endif %}"),
        (("b", 2, "c"), "{{ z }}"),
    ]
