"""OpenAPI import on real public documents: OAI's Petstore and USPTO, Resend (3.1), Discord (3.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthral.errors import ConfigurationError
from synthral.services.connector_openapi import import_openapi, openapi_to_definition, read_spec
from synthral_sdk.rest import load_definition

SPECS = Path(__file__).parents[2] / "fixtures" / "openapi"


def _functions(folder: Path) -> dict[str, dict[str, object]]:
    return {f["name"]: f for f in json.loads((folder / "functions.json").read_text())}


def test_petstore_becomes_one_function_per_operation_with_grouped_parameters(tmp_path: Path) -> None:
    result = import_openapi(SPECS / "petstore.yaml", tmp_path)
    functions = _functions(tmp_path)
    assert sorted(functions) == [
        "SWAGGER_PETSTORE__CREATE_PETS",
        "SWAGGER_PETSTORE__LIST_PETS",
        "SWAGGER_PETSTORE__SHOW_PET_BY_ID",
    ]
    show = functions["SWAGGER_PETSTORE__SHOW_PET_BY_ID"]
    assert show["protocol_data"] == {"method": "GET", "path": "/pets/{petId}", "content_type": "application/json"}
    assert show["parameters"]["properties"]["path"]["required"] == ["petId"]  # type: ignore[index]
    assert result.app["server_url"] == "http://petstore.swagger.io/v1"
    assert result.app["security_schemes"] == {"no_auth": {}}
    assert load_definition(tmp_path).app.name == "SWAGGER_PETSTORE"


def test_resend_31_takes_bearer_auth_and_select_keeps_one_tag(tmp_path: Path) -> None:
    everything = openapi_to_definition(read_spec(SPECS / "resend.yaml"))
    assert everything.app["security_schemes"] == {"http_bearer": {}}
    assert len(everything.functions) > 90
    result = import_openapi(SPECS / "resend.yaml", tmp_path, select=["Emails"], name="resend")
    assert result.functions and all("Emails" in f["tags"] for f in result.functions)
    send = next(
        f
        for f in result.functions
        if f["protocol_data"]["method"] == "POST" and f["protocol_data"]["path"] == "/emails"
    )
    body = send["parameters"]["properties"]["body"]
    assert {"from", "to", "subject"} <= set(body["required"])
    assert load_definition(tmp_path).app.slug == "resend"


def test_discord_31_detects_api_key_auth_and_offset_pagination(tmp_path: Path) -> None:
    result = import_openapi(SPECS / "discord.json.gz", tmp_path, name="discord")
    assert result.app["security_schemes"] == {"api_key": {"location": "header", "name": "Authorization"}}
    assert result.app["server_url"] == "https://discord.com/api/v10"
    assert len(result.functions) > 200
    search = next(f for f in result.functions if f["name"] == "DISCORD__GUILD_SEARCH")
    assert search["pagination"] == {"type": "offset", "items": "messages", "param": "query.offset"}
    assert all(s.endswith("is neither JSON nor a form") for s in result.skipped)  # multipart uploads, named
    definition = load_definition(tmp_path)
    assert len(definition.functions) == len(result.functions)


def test_uspto_server_variables_take_their_defaults(tmp_path: Path) -> None:
    result = import_openapi(SPECS / "uspto.yaml", tmp_path)
    assert result.app["server_url"] == "https://developer.uspto.gov/ds-api"
    search = next(f for f in result.functions if f["protocol_data"]["method"] == "POST")
    assert search["protocol_data"]["content_type"] == "application/x-www-form-urlencoded"


def test_a_selection_matching_nothing_lists_the_documents_tags(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"matches no operation; the document's tags are: .*Emails"):
        import_openapi(SPECS / "resend.yaml", tmp_path, select=["nothing-like-this"])
    assert not (tmp_path / "app.json").exists()


def test_swagger_20_is_refused_with_the_conversion_to_make(tmp_path: Path) -> None:
    spec = tmp_path / "old.json"
    spec.write_text(json.dumps({"swagger": "2.0", "info": {"title": "x"}, "paths": {}}))
    with pytest.raises(ConfigurationError, match=r"Swagger 2.0.*Convert"):
        read_spec(spec)


def test_an_existing_definition_is_kept_unless_forced(tmp_path: Path) -> None:
    import_openapi(SPECS / "petstore.yaml", tmp_path)
    before = (tmp_path / "app.json").read_text()
    with pytest.raises(ConfigurationError, match="--force"):
        import_openapi(SPECS / "petstore-expanded.yaml", tmp_path)
    assert (tmp_path / "app.json").read_text() == before
    import_openapi(SPECS / "petstore-expanded.yaml", tmp_path, force=True)
    assert "SWAGGER_PETSTORE__FIND_PETS" in _functions(tmp_path)


def test_recursive_and_dangling_references_are_handled(tmp_path: Path) -> None:
    node = {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Tree", "version": "1"},
        "paths": {
            "/nodes": {
                "post": {
                    "operationId": "addNode",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}},
                    "responses": {"201": {"description": "ok"}},
                }
            }
        },
        "components": {"schemas": {"Node": node}},
    }
    result = openapi_to_definition(doc)
    body = result.functions[0]["parameters"]["properties"]["body"]
    assert "recursive" in json.dumps(body)
    doc["paths"]["/nodes"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Gone"
    }  # type: ignore[index]
    with pytest.raises(ConfigurationError, match="points at nothing"):
        openapi_to_definition(doc)
