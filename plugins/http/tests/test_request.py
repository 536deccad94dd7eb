"""Sending requests: methods, query, headers, bodies, idempotency keys and the log line."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any, cast

import pytest
from support import PNG_BYTES, Server, invoke
from synthral_http import HttpRequest

from synthral_sdk import BlobStore
from synthral_sdk.errors import InputInvalid, NonRetryableError
from synthral_sdk.testing import call

NODE = HttpRequest()


def echo(server: Server, blobs: BlobStore, config: dict[str, Any] | None = None, **payload: object) -> dict[str, Any]:
    output = call(NODE, {"url": server.url("/echo"), **payload}, config=config, blobs=blobs)
    assert output["format"] == "json", output
    return cast(dict[str, Any], output["json"])


def test_get_json(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/json")}, blobs=blobs)

    assert output["status"] == 200
    assert output["ok"] is True
    assert output["url"] == server.url("/json")
    assert output["format"] == "json"
    assert output["json"] == {"hello": "world", "n": 1}
    assert output["text"] is None
    assert output["blob"] is None
    assert output["headers"]["content-type"] == "application/json"
    assert isinstance(output["elapsed_ms"], int)
    assert output["elapsed_ms"] >= 0
    assert output["redirects"] == []


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_server(server: Server, blobs: BlobStore, method: str) -> None:
    assert echo(server, blobs, method=method)["method"] == method


def test_head_has_an_empty_body(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/json"), "method": "HEAD"}, blobs=blobs)

    assert output["status"] == 200
    assert output["format"] == "empty"
    assert output["json"] is None
    assert output["headers"]["content-length"] == "26"


def test_query_merges_with_the_urls_own(server: Server, blobs: BlobStore) -> None:
    output = call(
        NODE,
        {"url": server.url("/echo?x=1"), "query": {"y": [1, "two"], "flag": True, "none": None, "pi": 3.5}},
        blobs=blobs,
    )

    assert output["json"]["query"] == {"x": ["1"], "y": ["1", "two"], "flag": ["true"], "none": [""], "pi": ["3.5"]}
    assert output["url"].startswith(server.url("/echo?x=1&y=1&y=two"))


def test_headers_are_sent(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, headers={"X-Trace": "abc", "Accept": "application/json"})["headers"]

    assert seen["x-trace"] == "abc"
    assert seen["accept"] == "application/json"


def test_json_body(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, method="POST", json={"a": [1, 2], "ü": None})

    assert seen["body"] == '{"a":[1,2],"ü":null}'
    assert seen["headers"]["content-type"] == "application/json"


def test_json_body_may_be_any_json_value(server: Server, blobs: BlobStore) -> None:
    assert echo(server, blobs, method="POST", json=[1, "x"])["body"] == '[1,"x"]'
    assert echo(server, blobs, method="POST", json=False)["body"] == "false"


def test_form_body(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, method="POST", form={"name": "Ada Lovelace", "lang": "en&fr"})

    assert seen["body"] == "name=Ada+Lovelace&lang=en%26fr"
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_text_body_with_content_type(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, method="PUT", body="a,b\n1,2\n", content_type="text/csv")

    assert seen["body"] == "a,b\n1,2\n"
    assert seen["headers"]["content-type"] == "text/csv"


def test_text_body_defaults_to_utf8_plain_text(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, method="POST", body="grüße")

    assert seen["body"] == "grüße"
    assert seen["headers"]["content-type"] == "text/plain; charset=utf-8"


def test_content_type_input_overrides_the_header(server: Server, blobs: BlobStore) -> None:
    seen = echo(
        server,
        blobs,
        method="POST",
        json={"a": 1},
        headers={"Content-Type": "text/plain"},
        content_type="application/vnd.api+json",
    )

    assert seen["headers"]["content-type"] == "application/vnd.api+json"


def test_content_type_header_is_kept_without_the_input(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, method="POST", json={"a": 1}, headers={"content-type": "application/merge-patch+json"})

    assert seen["headers"]["content-type"] == "application/merge-patch+json"


def test_blob_body_is_read_from_the_blob_store(server: Server, blobs: BlobStore) -> None:
    ref = blobs.put(PNG_BYTES, media_type="image/png", name="dot.png")

    seen = echo(server, blobs, method="POST", body_blob=ref.to_json())

    assert base64.b64decode(seen["body_b64"]) == PNG_BYTES
    assert seen["headers"]["content-type"] == "image/png"
    assert seen["headers"]["content-length"] == str(len(PNG_BYTES))


def test_missing_blob_body_is_invalid_input(server: Server, blobs: BlobStore, tmp_path: Path) -> None:
    elsewhere = BlobStore(tmp_path / "elsewhere").put(b"not in the node's store")

    with pytest.raises(InputInvalid, match="not in the blob store") as caught:
        call(NODE, {"url": server.url("/echo"), "method": "POST", "body_blob": elsewhere.to_json()}, blobs=blobs)
    assert elsewhere.digest in caught.value.message


def test_no_body_sends_no_content_type(server: Server, blobs: BlobStore) -> None:
    seen = echo(server, blobs, method="POST")

    assert "content-type" not in seen["headers"]
    assert seen["body"] == ""


# -- idempotency keys --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_idempotency_key_is_sent_for_unsafe_methods(server: Server, blobs: BlobStore, method: str) -> None:
    output = invoke({"url": server.url("/echo"), "method": method}, blobs=blobs, idempotency_key="exec-1/fetch/0")

    assert output["json"]["headers"]["idempotency-key"] == "exec-1/fetch/0"


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_idempotency_key_is_not_sent_for_safe_methods(server: Server, blobs: BlobStore, method: str) -> None:
    output = invoke({"url": server.url("/echo"), "method": method}, blobs=blobs, idempotency_key="exec-1/fetch/0")

    assert "idempotency-key" not in output["json"]["headers"]


def test_callers_idempotency_key_wins(server: Server, blobs: BlobStore) -> None:
    output = invoke(
        {"url": server.url("/echo"), "method": "POST", "headers": {"idempotency-key": "mine"}},
        blobs=blobs,
        idempotency_key="exec-1/fetch/0",
    )

    assert output["json"]["headers"]["idempotency-key"] == "mine"


def test_idempotency_key_can_be_turned_off(server: Server, blobs: BlobStore) -> None:
    output = invoke(
        {"url": server.url("/echo"), "method": "POST"},
        blobs=blobs,
        config={"send_idempotency_key": False},
        idempotency_key="exec-1/fetch/0",
    )

    assert "idempotency-key" not in output["json"]["headers"]


def test_no_idempotency_key_without_one_in_the_context(server: Server, blobs: BlobStore) -> None:
    assert "idempotency-key" not in echo(server, blobs, method="POST")["headers"]


# -- the log line ------------------------------------------------------------------------


def test_one_info_line_per_request_without_the_query(
    server: Server, blobs: BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    call(NODE, {"url": server.url("/json?token=abc123"), "query": {"key": "k-999"}}, blobs=blobs)

    lines = [r.getMessage() for r in caplog.records if r.name == "synthral.plugin"]
    assert len(lines) == 1
    assert caplog.records[-1].levelno == logging.INFO
    assert lines[0].startswith(f"GET {server.url('/json')} → 200 in ")
    assert lines[0].endswith(" ms")
    every = "\n".join(r.getMessage() for r in caplog.records)
    assert "abc123" not in every
    assert "k-999" not in every


def test_failed_request_is_logged_too(server: Server, blobs: BlobStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    with pytest.raises(NonRetryableError):
        call(NODE, {"url": server.url("/status/404")}, blobs=blobs)

    lines = [r.getMessage() for r in caplog.records if r.name == "synthral.plugin"]
    assert len(lines) == 1
    assert lines[0].startswith(f"GET {server.url('/status/404')} → 404 in ")


def test_instances_serve_many_calls(server: Server, blobs: BlobStore) -> None:
    outputs = [call(NODE, {"url": server.url("/json")}, blobs=blobs) for _ in range(3)]

    assert [o["json"] for o in outputs] == [{"hello": "world", "n": 1}] * 3
