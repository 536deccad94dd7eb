"""What the node refuses before sending anything, and the catalog it describes itself with."""

from __future__ import annotations

import pytest
from support import Server
from synthral_http import HttpRequest

from synthral_sdk import BlobStore
from synthral_sdk.errors import ConfigInvalid, InputInvalid
from synthral_sdk.testing import call

NODE = HttpRequest()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.org/file", "only http and https URLs are supported, and this one has scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("example.org/path", "no scheme"),
        ("http:///path", "has no host"),
        ("https://user:pw@example.org/", "carries a user name or password"),
    ],
)
def test_url_must_be_absolute_http(blobs: BlobStore, url: str, problem: str) -> None:
    with pytest.raises(InputInvalid, match="input field 'url'") as caught:
        call(NODE, {"url": url}, blobs=blobs)

    assert problem in caught.value.message


def test_two_bodies_are_refused_naming_both(blobs: BlobStore) -> None:
    with pytest.raises(InputInvalid) as caught:
        call(NODE, {"url": "http://127.0.0.1/", "method": "POST", "json": {"a": 1}, "form": {"b": "2"}}, blobs=blobs)

    assert "give at most one body, but 'json' and 'form' are both set" in caught.value.message


def test_three_bodies_are_refused_naming_all(blobs: BlobStore) -> None:
    with pytest.raises(InputInvalid, match="'json' and 'form' and 'body' are all set"):
        call(NODE, {"url": "http://127.0.0.1/", "json": 1, "form": {}, "body": "x"}, blobs=blobs)


def test_null_json_means_no_body(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/echo"), "method": "POST", "json": None, "body": "x"}, blobs=blobs)

    assert output["json"]["body"] == "x"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"method": "TRACE"}, "input field 'method'"),
        ({"headers": {"bad name": "x"}}, "header name 'bad name' is not valid"),
        ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, "contains a line break"),
        ({"query": {"q": {"nested": 1}}}, "input field 'query.q"),
        ({"body_blob": {"$blob": "sha256:nothex", "size": 1}}, "64 lowercase hex digits"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
        ({}, "input field 'url': Field required"),
    ],
)
def test_input_is_checked(blobs: BlobStore, payload: dict[str, object], problem: str) -> None:
    with pytest.raises(InputInvalid, match=r"Fix the input of 'request\.run'") as caught:
        call(NODE, {"url": "http://127.0.0.1/", **payload} if payload else payload, blobs=blobs)

    assert problem in caught.value.message


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"timeout": 0}, "config field 'timeout': Input should be greater than 0"),
        ({"max_redirects": -1}, "config field 'max_redirects'"),
        ({"response_format": "xml"}, "config field 'response_format'"),
        ({"max_inline_bytes": 64 * 1024 * 1024}, "config field 'max_inline_bytes'"),
        ({"retries": 3}, "config field 'retries': Extra inputs are not permitted"),
    ],
)
def test_config_is_checked(blobs: BlobStore, config: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        call(NODE, {"url": "http://127.0.0.1/"}, config=config, blobs=blobs)

    assert problem in caught.value.message


def test_catalog_entry() -> None:
    spec = NODE.spec().wire()

    assert spec["name"] == "request"
    assert spec["title"] == "HTTP Request"
    assert spec["secrets"] == ["credential"]
    operations = spec["operations"]
    assert isinstance(operations, dict)
    run = operations["run"]
    assert isinstance(run, dict)
    input_schema, output_schema = run["inputSchema"], run["outputSchema"]
    assert isinstance(input_schema, dict)
    assert isinstance(output_schema, dict)
    assert {"json", "form", "body", "body_blob"} <= set(input_schema["properties"])  # type: ignore[arg-type]
    assert "json" in output_schema["properties"]  # type: ignore[operator]
