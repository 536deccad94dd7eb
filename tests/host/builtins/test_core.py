"""The built-in core logic nodes."""

from __future__ import annotations

from typing import Any

import pytest

from synthral.builtins import core
from synthral.errors import ConfigInvalid, InputInvalid
from synthral_sdk.testing import call


def run(node: Any, data: object, config: object) -> object:
    return call(node, {"data": data}, config=config)["data"]


def test_set_merges_dotted_paths_into_the_item() -> None:
    assert run(core.SetNode(), {"a": 1}, {"values": {"b.c": 2, "a": 3}}) == {"a": 3, "b": {"c": 2}}
    assert run(core.SetNode(), {"a": 1}, {"values": {"x": True}, "keep_input": False}) == {"x": True}


def test_transform_picks_renames_and_nests() -> None:
    item = {"user": {"name": "Ada", "langs": ["en", "fr"]}, "id": 7}
    mapping = {"who": "user.name", "first_lang": "user.langs.0", "meta.id": "id", "missing": "nope"}
    assert run(core.TransformNode(), item, {"mapping": mapping}) == {
        "who": "Ada",
        "first_lang": "en",
        "meta": {"id": 7},
        "missing": None,
    }
    assert "missing" not in run(core.TransformNode(), item, {"mapping": mapping, "on_missing": "skip"})  # type: ignore[operator]
    with pytest.raises(InputInvalid, match="no field 'nope'"):
        call(core.TransformNode(), {"data": item}, config={"mapping": mapping, "on_missing": "error"})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"path": "status", "op": "eq", "value": 200}, "true"),
        ({"path": "status", "op": "gte", "value": 300}, "false"),
        ({"path": "tags", "op": "contains", "value": "urgent"}, "true"),
        ({"path": "title", "op": "matches", "value": "^Re:"}, "true"),
        ({"path": "title", "op": "starts_with", "value": "Fw"}, "false"),
        ({"path": "owner", "op": "exists"}, "false"),
        ({"path": "tags", "op": "is_not_empty"}, "true"),
        ({"path": "status", "op": "in", "value": [200, 201]}, "true"),
    ],
)
def test_if_routes_by_condition(condition: dict[str, object], expected: str) -> None:
    item = {"status": 200, "tags": ["urgent", "billing"], "title": "Re: invoice"}
    result = call(core.IfNode(), {"data": item}, config={"conditions": [condition]})
    assert result == {"branch": expected, "data": item}


def test_if_combines_conditions_and_refuses_nonsense() -> None:
    item = {"a": 1, "b": "x"}
    both = [{"path": "a", "op": "eq", "value": 1}, {"path": "b", "op": "eq", "value": "y"}]
    assert call(core.IfNode(), {"data": item}, config={"conditions": both})["branch"] == "false"
    assert call(core.IfNode(), {"data": item}, config={"conditions": both, "combine": "any"})["branch"] == "true"
    with pytest.raises(InputInvalid, match="cannot compare str with int"):
        call(core.IfNode(), {"data": item}, config={"conditions": [{"path": "b", "op": "gt", "value": 3}]})
    with pytest.raises(ConfigInvalid, match="conditions"):
        call(core.IfNode(), {"data": item}, config={"conditions": []})
    with pytest.raises(ConfigInvalid, match="op"):
        call(core.IfNode(), {"data": item}, config={"conditions": [{"path": "a", "op": "roughly"}]})


def test_switch_takes_the_first_matching_rule_or_the_fallback() -> None:
    rules = [
        {"branch": "big", "conditions": [{"path": "n", "op": "gt", "value": 100}]},
        {"branch": "positive", "conditions": [{"path": "n", "op": "gt", "value": 0}]},
    ]
    assert call(core.SwitchNode(), {"data": {"n": 500}}, config={"rules": rules})["branch"] == "big"
    assert call(core.SwitchNode(), {"data": {"n": 5}}, config={"rules": rules})["branch"] == "positive"
    assert call(core.SwitchNode(), {"data": {"n": -5}}, config={"rules": rules})["branch"] == "default"
    with pytest.raises(InputInvalid, match="no fallback"):
        call(core.SwitchNode(), {"data": {"n": -5}}, config={"rules": rules, "fallback": None})
    with pytest.raises(ConfigInvalid, match="own branch name"):
        call(core.SwitchNode(), {"data": {}}, config={"rules": [rules[0], rules[0]]})


def test_merge_modes() -> None:
    inputs = {"inputs": [[1, 2], [3], 4]}
    assert call(core.MergeNode(), inputs)["data"] == [1, 2, 3, 4]
    objects = {"inputs": [{"a": 1}, {"b": 2}, {"a": 3}]}
    assert call(core.MergeNode(), objects, config={"mode": "merge_objects"})["data"] == {"a": 3, "b": 2}
    assert call(core.MergeNode(), {"inputs": [[1, 2], ["a", "b"]]}, config={"mode": "zip"})["data"] == [
        [1, "a"],
        [2, "b"],
    ]
    assert call(core.MergeNode(), {"inputs": [None, 5, 6]}, config={"mode": "first"})["data"] == 5
    with pytest.raises(InputInvalid, match="input 1 is int"):
        call(core.MergeNode(), {"inputs": [{}, 1]}, config={"mode": "merge_objects"})


def test_wait_passes_the_item_on_and_validates_its_config() -> None:
    assert run(core.WaitNode(), {"a": 1}, {"seconds": 0}) == {"a": 1}
    assert run(core.WaitNode(), {"a": 1}, {"until": "2000-01-01T00:00:00+00:00"}) == {"a": 1}
    with pytest.raises(ConfigInvalid, match="exactly one"):
        call(core.WaitNode(), {"data": 1}, config={})
    with pytest.raises(ConfigInvalid, match="time zone"):
        call(core.WaitNode(), {"data": 1}, config={"until": "2030-01-01T00:00:00"})


def test_noop_passes_anything_through() -> None:
    assert run(core.NoopNode(), [1, {"x": None}], {}) == [1, {"x": None}]
