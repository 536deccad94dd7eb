"""Reading responses: JSON, text, blobs, size limits, encodings and headers."""

from __future__ import annotations

import logging

import pytest
from support import PNG_BYTES, Server
from synthral_http import HttpRequest
from synthral_http._response import classify

from synthral_sdk import BlobRef, BlobStore
from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import call

NODE = HttpRequest()


def stored(blobs: BlobStore, output: dict[str, object]) -> tuple[BlobRef, bytes]:
    assert output["format"] == "blob", output
    ref = BlobRef.model_validate(output["blob"])
    return ref, blobs.get(ref)


def test_png_comes_back_as_a_blob(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/image.png")}, blobs=blobs)

    ref, data = stored(blobs, output)
    assert data == PNG_BYTES
    assert ref.media_type == "image/png"
    assert ref.name == "image.png"
    assert ref.size == len(PNG_BYTES)
    assert output["json"] is None
    assert output["text"] is None


def test_blob_name_comes_from_content_disposition(server: Server, blobs: BlobStore) -> None:
    ref, data = stored(blobs, call(NODE, {"url": server.url("/download")}, blobs=blobs))

    assert ref.name == "report.bin"
    assert ref.media_type == "application/octet-stream"
    assert data == b"\x00\x01binary\xff"


def test_text_is_decoded_with_its_charset(server: Server, blobs: BlobStore) -> None:
    utf8 = call(NODE, {"url": server.url("/text")}, blobs=blobs)
    latin1 = call(NODE, {"url": server.url("/latin1")}, blobs=blobs)

    assert (utf8["format"], utf8["text"]) == ("text", "héllo wörld")
    assert (latin1["format"], latin1["text"]) == ("text", "café")


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/xml", "text"),
        ("/problem", "json"),
        ("/json-as-text", "text"),
        ("/untyped", "text"),
        ("/untyped-binary", "blob"),
    ],
)
def test_auto_format_follows_the_content_type(server: Server, blobs: BlobStore, path: str, fmt: str) -> None:
    assert call(NODE, {"url": server.url(path)}, blobs=blobs)["format"] == fmt


def test_forced_json_parses_a_text_content_type(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/json-as-text")}, config={"response_format": "json"}, blobs=blobs)

    assert (output["format"], output["json"]) == ("json", {"x": 2})


def test_forced_text_keeps_json_as_text(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/json")}, config={"response_format": "text"}, blobs=blobs)

    assert (output["format"], output["text"]) == ("text", '{"hello": "world", "n": 1}')


def test_forced_blob_stores_json(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/json")}, config={"response_format": "blob"}, blobs=blobs)

    ref, data = stored(blobs, output)
    assert data == b'{"hello": "world", "n": 1}'
    assert ref.media_type == "application/json"


def test_invalid_json_when_json_is_required_names_the_content_type(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match="not valid JSON") as caught:
        call(NODE, {"url": server.url("/json-bad")}, config={"response_format": "json"}, blobs=blobs)

    assert "content type 'application/json'" in caught.value.message
    assert "response_format" in caught.value.message
    assert caught.value.details["content_type"] == "application/json"


def test_invalid_json_in_auto_mode_falls_back_to_text(
    server: Server, blobs: BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    output = call(NODE, {"url": server.url("/json-bad")}, blobs=blobs)

    assert (output["format"], output["text"]) == ("text", "{not json")
    assert any("not valid JSON; returned as text" in r.getMessage() for r in caplog.records)


def test_text_over_the_inline_limit_becomes_a_blob(
    server: Server, blobs: BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    output = call(NODE, {"url": server.url("/big?size=5000")}, config={"max_inline_bytes": 1000}, blobs=blobs)

    ref, data = stored(blobs, output)
    assert data == b"x" * 5000
    assert ref.media_type == "text/plain"
    assert ref.name == "big"
    assert output["text"] is None
    assert any("more than max_inline_bytes (1000)" in r.getMessage() for r in caplog.records)


def test_text_at_the_inline_limit_stays_inline(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/big?size=1000")}, config={"max_inline_bytes": 1000}, blobs=blobs)

    assert (output["format"], output["text"]) == ("text", "x" * 1000)


def test_large_binary_body_goes_to_the_store_through_a_file(server: Server, blobs: BlobStore) -> None:
    output = call(
        NODE,
        {"url": server.url("/big?size=300000")},
        config={"max_inline_bytes": 0, "response_format": "blob"},
        blobs=blobs,
    )

    _, data = stored(blobs, output)
    assert data == b"x" * 300000


def test_no_content_is_empty(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/empty")}, config={"response_format": "json"}, blobs=blobs)

    assert (output["status"], output["ok"], output["format"]) == (204, True, "empty")
    assert (output["json"], output["text"], output["blob"]) == (None, None, None)


def test_gzip_bodies_are_decoded(server: Server, blobs: BlobStore) -> None:
    assert call(NODE, {"url": server.url("/gzip")}, blobs=blobs)["json"] == {"zipped": True}


def test_undecodable_content_encoding_is_not_retryable(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match="Content-Encoding") as caught:
        call(NODE, {"url": server.url("/bad-gzip")}, blobs=blobs)

    assert "127.0.0.1" in caught.value.message
    assert caught.value.details["error"] == "DecodingError"


def test_headers_are_lowercase_and_repeated_ones_joined(server: Server, blobs: BlobStore) -> None:
    headers = call(NODE, {"url": server.url("/cookies")}, blobs=blobs)["headers"]

    assert headers["set-cookie"] == "a=1, b=2"
    assert headers["x-custom"] == "yes"
    assert all(name == name.lower() for name in headers)


@pytest.mark.parametrize(
    ("media_type", "kind"),
    [
        ("application/json", "json"),
        ("application/ld+json", "json"),
        ("text/json", "json"),
        ("text/html", "text"),
        ("text/csv", "text"),
        ("application/xml", "text"),
        ("image/svg+xml", "text"),
        ("application/javascript", "text"),
        ("application/x-www-form-urlencoded", "text"),
        ("application/yaml", "text"),
        ("application/pdf", "blob"),
        ("image/png", "blob"),
        ("application/octet-stream", "blob"),
        (None, None),
    ],
)
def test_classify(media_type: str | None, kind: str | None) -> None:
    assert classify(media_type) == kind
