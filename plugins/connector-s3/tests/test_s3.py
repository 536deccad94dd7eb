"""The S3 connector against moto's S3 server: a real HTTP server speaking the S3 API with SigV4."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import httpx
import pytest
from moto.server import ThreadedMotoServer
from synthral_connector_s3.plugin import S3, DeleteObject, GetObject, ListObjects, NewObject, PresignUrl, PutObject

from synthral_sdk import BlobStore
from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import PluginConformance, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-s3"


@pytest.fixture(scope="module")
def secrets() -> Iterator[dict[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        httpx.put(f"{endpoint}/reports")  # create the bucket (moto accepts an unsigned CreateBucket)
        yield {
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "secret",
            "region": "us-east-1",
            "endpoint_url": endpoint,
        }
    finally:
        server.stop()


def test_put_get_list_and_delete_with_bytes_as_blobs(secrets: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as root:
        blobs = BlobStore(root)
        ref = blobs.put(b"%PDF-1.7 fake", media_type="application/pdf", name="q1.pdf")
        put = call(
            PutObject(),
            {"bucket": "reports", "key": "2026/q1.pdf", "blob": ref.to_json(), "metadata": {"team": "ops"}},
            secrets=secrets,
            blobs=blobs,
        )
        got = call(GetObject(), {"bucket": "reports", "key": "2026/q1.pdf"}, secrets=secrets, blobs=blobs)
        assert put["size"] == 13 and got["etag"] == put["etag"] and got["metadata"] == {"team": "ops"}
        assert blobs.get(ref.model_validate(got["blob"])) == b"%PDF-1.7 fake"
    call(PutObject(), {"bucket": "reports", "key": "2026/notes.txt", "text": "hello"}, secrets=secrets)
    listed = call(ListObjects(), {"bucket": "reports", "prefix": "2026/"}, secrets=secrets)
    assert [o["key"] for o in listed["objects"]] == ["2026/notes.txt", "2026/q1.pdf"] and listed["truncated"] is False
    call(DeleteObject(), {"bucket": "reports", "key": "2026/notes.txt"}, secrets=secrets)
    assert [
        o["key"] for o in call(ListObjects(), {"bucket": "reports", "prefix": "2026/"}, secrets=secrets)["objects"]
    ] == ["2026/q1.pdf"]


def test_errors_name_the_s3_code_and_the_fix(secrets: dict[str, str]) -> None:
    with pytest.raises(NonRetryableError, match=r"NoSuchKey.*no object has that key"):
        call(GetObject(), {"bucket": "reports", "key": "missing"}, secrets=secrets)
    with pytest.raises(NonRetryableError, match="NoSuchBucket"):
        call(ListObjects(), {"bucket": "nope-bucket"}, secrets=secrets)
    with pytest.raises(ConfigurationError, match="exactly one of 'blob' and 'text'"):
        call(PutObject(), {"bucket": "reports", "key": "k"}, secrets=secrets)
    assert call(S3(), {}, operation="test_connection", secrets=secrets)["ok"] is True


def test_a_presigned_url_downloads_without_credentials(secrets: dict[str, str]) -> None:
    call(PutObject(), {"bucket": "reports", "key": "shared.txt", "text": "public now"}, secrets=secrets)
    url = call(PresignUrl(), {"bucket": "reports", "key": "shared.txt", "expires_seconds": 60}, secrets=secrets)["url"]
    assert "X-Amz-Signature=" in url and httpx.get(url).text == "public now"


def test_new_object_trigger_emits_keys_after_its_cursor(secrets: dict[str, str]) -> None:
    call(PutObject(), {"bucket": "reports", "key": "in/001", "text": "a"}, secrets=secrets)
    first = call(NewObject(), {"state": None}, config={"bucket": "reports", "prefix": "in/"}, secrets=secrets)
    call(PutObject(), {"bucket": "reports", "key": "in/002", "text": "b"}, secrets=secrets)
    second = call(
        NewObject(), {"state": first["state"]}, config={"bucket": "reports", "prefix": "in/"}, secrets=secrets
    )
    third = call(
        NewObject(), {"state": second["state"]}, config={"bucket": "reports", "prefix": "in/"}, secrets=secrets
    )
    assert first["events"] == [] and [o["key"] for o in second["events"]] == ["in/002"] and third["events"] == []
