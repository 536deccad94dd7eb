"""The declarative connector format and the generic REST runtime, against local stand-ins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthral_sdk._json_schema import schema_problems
from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError
from synthral_sdk.rest import DeclaredPlugin, load_definition
from synthral_sdk.testing import call
from synthral_sdk.testing_rest import ApiKeyAuth, BasicAuth, Recorded, Reply, StandIn


def _function(name: str, method: str, path: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "protocol_data": {"method": method, "path": path, **extra.pop("protocol", {})},
        "parameters": {"type": "object", "properties": properties, "additionalProperties": False},
        **extra,
    }


def _write(folder: Path, app: dict[str, Any], functions: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.json").write_text(json.dumps(app))
    (folder / "functions.json").write_text(json.dumps(functions))
    return folder


def _app(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "DEMO",
        "display_name": "Demo",
        "version": "1.0.0",
        "server_url": "https://demo.invalid",
        **overrides,
    }


# -- the format -------------------------------------------------------------------------------


def test_a_missing_file_is_named_with_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"app.json is missing.*import-openapi"):
        load_definition(tmp_path)


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    _write(tmp_path, _app(), [])
    (tmp_path / "functions.json").write_text("[{")
    with pytest.raises(ConfigurationError, match=r"functions.json is not valid JSON"):
        load_definition(tmp_path)


def test_a_function_outside_the_apps_prefix_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, _app(), [_function("OTHER__X", "GET", "/x", {})])
    with pytest.raises(ConfigurationError, match=r"must be named DEMO__ACTION"):
        load_definition(tmp_path)


def test_a_path_placeholder_without_a_parameter_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, _app(), [_function("DEMO__GET", "GET", "/items/{id}", {})])
    with pytest.raises(ConfigurationError, match=r"function DEMO__GET.*the path names \['id'\]"):
        load_definition(tmp_path)


def test_a_trigger_naming_an_unknown_function_is_refused(tmp_path: Path) -> None:
    app = _app(triggers=[{"name": "new_item", "function": "DEMO__LIST"}])
    _write(tmp_path, app, [_function("DEMO__GET", "GET", "/x", {})])
    with pytest.raises(ConfigurationError, match=r"trigger 'new_item' names function 'DEMO__LIST'"):
        load_definition(tmp_path)


def test_an_unknown_parameter_group_is_named(tmp_path: Path) -> None:
    _write(tmp_path, _app(), [_function("DEMO__GET", "GET", "/x", {"form": {"type": "object"}})])
    with pytest.raises(ConfigurationError, match=r"has \['form'\]; the groups are path, query"):
        load_definition(tmp_path)


# -- the schema checker -----------------------------------------------------------------------


def test_schema_problems_name_every_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "body": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1}, "kind": {"enum": ["a", "b"]}},
                "required": ["n"],
                "additionalProperties": False,
            }
        },
    }
    assert schema_problems(schema, {"body": {"n": 1, "kind": "a"}}) == []
    problems = schema_problems(schema, {"body": {"n": True, "kind": "c", "x": 1}})
    assert problems == [
        "'body.n' must be integer, not bool",
        "'body.kind' must be one of 'a', 'b'",
        "'body.x' is not a known field (known: kind, n)",
    ]
    assert schema_problems(schema, {"body": {}}) == ["'body.n' is required"]
    assert schema_problems({"type": ["string", "null"]}, None) == []
    assert schema_problems({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5) == [
        "'(root)' matches none of the allowed shapes (anyOf)"
    ]


# -- the runtime ------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[StandIn]:
    server = StandIn(auth=ApiKeyAuth("key-1", query="api_key"))

    @server.route("POST", "/v1/customers")
    def customers(request: Recorded) -> Reply:
        return Reply(200, {"form": request.form})

    @server.route("GET", "/cursor")
    def cursor(request: Recorded) -> Reply:
        after = int(request.arg("after") or 0)
        items = [{"id": i} for i in range(after, min(after + 2, 5))]
        return Reply(200, {"items": items, "meta": {"next": str(after + 2) if after + 2 < 5 else ""}})

    @server.route("GET", "/pages")
    def pages(request: Recorded) -> Reply:
        page = int(request.arg("page") or 1)
        return Reply(200, {"results": [page] if page <= 3 else []})

    @server.route("POST", "/chat")
    def chat(request: Recorded) -> Reply:
        return Reply(200, {"ok": False, "error": "channel_not_found"})

    with server:
        yield server


@pytest.fixture
def demo(tmp_path: Path) -> DeclaredPlugin:
    app = _app(security_schemes={"api_key": {"location": "query", "name": "api_key"}})
    functions = [
        _function(
            "DEMO__CREATE_CUSTOMER", "POST", "/v1/customers", {"body": {"type": "object"}},
            protocol={"content_type": "application/x-www-form-urlencoded"},
        ),
        _function(
            "DEMO__LIST_CURSOR", "GET", "/cursor", {"query": {"type": "object"}},
            pagination={"type": "cursor", "items": "items", "param": "query.after", "next": "meta.next"},
        ),
        _function(
            "DEMO__LIST_PAGES", "GET", "/pages", {"query": {"type": "object"}},
            pagination={"type": "page", "items": "results", "param": "query.page"},
        ),
        _function(
            "DEMO__CHAT", "POST", "/chat", {"body": {"type": "object"}},
            response={"ok_field": "ok", "error_field": "error"},
        ),
    ]  # fmt: skip
    return DeclaredPlugin(_write(tmp_path / "demo", app, functions))


def test_form_bodies_encode_nested_values_the_way_stripe_reads_them(api: StandIn, demo: DeclaredPlugin) -> None:
    body = {"email": "a@b.c", "metadata": {"plan": "pro"}, "tags": ["x", "y"], "vip": True}
    out = call(
        demo.action("create_customer"), {"body": body}, config={"base_url": api.url}, secrets={"api_key": "key-1"}
    )
    assert out["data"] == {
        "form": {"email": "a@b.c", "metadata[plan]": "pro", "tags[0]": "x", "tags[1]": "y", "vip": "true"}
    }
    assert api.requests[-1].arg("api_key") == "key-1"


def test_cursor_pagination_follows_the_next_field_until_it_is_empty(api: StandIn, demo: DeclaredPlugin) -> None:
    out = call(
        demo.action("list_cursor"), {}, config={"base_url": api.url, "max_pages": 10}, secrets={"api_key": "key-1"}
    )
    assert out["data"] == [{"id": i} for i in range(5)]
    assert out["next"] is None
    short = call(
        demo.action("list_cursor"), {}, config={"base_url": api.url, "max_pages": 2}, secrets={"api_key": "key-1"}
    )
    assert len(short["data"]) == 4 and short["next"] == "4"


def test_page_pagination_stops_at_an_empty_page(api: StandIn, demo: DeclaredPlugin) -> None:
    out = call(
        demo.action("list_pages"), {}, config={"base_url": api.url, "max_pages": 10}, secrets={"api_key": "key-1"}
    )
    assert out["data"] == [1, 2, 3]


def test_an_ok_false_answer_is_an_error_with_the_services_reason(api: StandIn, demo: DeclaredPlugin) -> None:
    with pytest.raises(NonRetryableError, match="ok=false: channel_not_found"):
        call(demo.action("chat"), {"body": {}}, config={"base_url": api.url}, secrets={"api_key": "key-1"})


def test_a_call_without_its_credential_says_to_connect(api: StandIn, demo: DeclaredPlugin) -> None:
    with pytest.raises(ConfigurationError, match=r"granted no api_key; connect it first"):
        call(demo.action("chat"), {"body": {}}, config={"base_url": api.url})
    assert api.requests == []


def test_a_server_url_placeholder_takes_a_credential_field(tmp_path: Path) -> None:
    app = _app(
        server_url="{base}/api",
        security_schemes={"http_basic": {"fields": [
            {"name": "username", "secret": False}, {"name": "password"}, {"name": "base", "secret": False},
        ]}},
    )  # fmt: skip
    plugin = DeclaredPlugin(_write(tmp_path / "d", app, [_function("DEMO__ME", "GET", "/me", {})]))
    server = StandIn(auth=BasicAuth("ada", "pw"))

    @server.route("GET", "/api/me")
    def me(request: Recorded) -> Reply:
        return Reply(200, {"me": "ada"})

    with server:
        out = call(plugin.action("me"), {}, secrets={"username": "ada", "password": "pw", "base": server.url})
        with pytest.raises(ConfigurationError, match="still has a placeholder"):
            call(plugin.action("me"), {}, secrets={"username": "ada", "password": "pw"})
    assert out["data"] == {"me": "ada"}
    assert plugin.connector.auth.type == "basic"


def test_extra_input_fields_are_refused_before_sending(api: StandIn, demo: DeclaredPlugin) -> None:
    with pytest.raises(InputInvalid, match=r"'headers' is not a known field"):
        call(
            demo.action("chat"), {"body": {}, "headers": {}}, config={"base_url": api.url}, secrets={"api_key": "key-1"}
        )
    assert api.requests == []
