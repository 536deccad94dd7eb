"""The node through the real process boundary: ``python -m synthral_sdk.runner --dist synthral-http``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import PNG_BYTES, SECRET, Server

from synthral_sdk import BlobRef, BlobStore
from synthral_sdk.errors import Cancelled, ConfigInvalid, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient
from synthral_sdk.types import JSONObject

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    with RunnerClient("synthral-http", blob_root=tmp_path_factory.mktemp("runner-blobs")) as client:
        yield client


def test_catalog_names_the_node(runner: RunnerClient) -> None:
    plugin = runner.initialize_result["plugin"]
    capabilities = runner.initialize_result["capabilities"]

    assert isinstance(plugin, dict)
    assert (plugin["name"], plugin["version"]) == ("synthral-http", "0.1.0")
    assert isinstance(capabilities, list)
    assert [c["name"] for c in capabilities if isinstance(c, dict)] == ["request"]


def test_json_response(runner: RunnerClient, server: Server) -> None:
    output = runner.invoke("request", {"url": server.url("/json")})

    assert output["status"] == 200
    assert output["json"] == {"hello": "world", "n": 1}


def test_binary_response_is_a_blob_in_the_store(runner: RunnerClient, server: Server) -> None:
    output = runner.invoke("request", {"url": server.url("/image.png")})

    assert output["format"] == "blob"
    ref = BlobRef.model_validate(output["blob"])
    assert ref.media_type == "image/png"
    assert BlobStore(runner.blob_root).get(ref) == PNG_BYTES


def test_blob_body_is_read_from_the_shared_store(runner: RunnerClient, server: Server) -> None:
    ref = BlobStore(runner.blob_root).put(PNG_BYTES, media_type="image/png")

    output = runner.invoke("request", {"url": server.url("/echo"), "method": "PUT", "body_blob": ref.to_json()})

    assert output["json"]["headers"]["content-type"] == "image/png"


def test_context_idempotency_key_and_credential(runner: RunnerClient, server: Server) -> None:
    output = runner.invoke(
        "request",
        {"url": server.url("/echo"), "method": "POST", "json": {"a": 1}},
        config={"auth": {"type": "header", "name": "X-Api-Key"}},
        context={"idempotencyKey": "exec-9/post/0", "secrets": {"credential": SECRET}},
    )

    headers = output["json"]["headers"]
    assert headers["idempotency-key"] == "exec-9/post/0"
    assert headers["x-api-key"] == SECRET


def test_errors_keep_their_type_and_details(runner: RunnerClient, server: Server) -> None:
    with pytest.raises(NonRetryableError, match="answered 404 Not Found") as missing:
        runner.invoke("request", {"url": server.url("/status/404")})
    with pytest.raises(RetryableError, match="rate limiting") as limited:
        runner.invoke("request", {"url": server.url("/status/429?retry_after=3")})
    with pytest.raises(InputInvalid, match="only http and https"):
        runner.invoke("request", {"url": "ftp://example.org/"})
    with pytest.raises(ConfigInvalid, match="grant the node a credential"):
        runner.invoke("request", {"url": server.url("/bearer")}, config={"auth": {"type": "bearer"}})

    assert missing.value.details["status"] == 404
    assert missing.value.retryable is False
    assert limited.value.details["retry_after"] == 3
    assert limited.value.retryable is True


def test_log_line_reaches_the_host_without_secrets(runner: RunnerClient, server: Server) -> None:
    with pytest.raises(NonRetryableError) as caught:
        runner.invoke(
            "request",
            {"url": server.url("/echo-400")},
            config={"auth": {"type": "query", "name": "api_key"}},
            context={"secrets": {"credential": SECRET}},
        )

    assert SECRET not in caught.value.message
    logs = [n["params"] for n in runner.notifications if n["method"] == "$/log"]
    lines = [str(p["message"]) for p in logs if isinstance(p, dict)]
    assert f"GET {server.url('/echo-400')} → 400 in" in "\n".join(lines)
    assert all(SECRET not in line for line in lines)


def test_cancel_request_stops_a_slow_call(runner: RunnerClient, server: Server) -> None:
    target = "/slow?seconds=300&call=cancelled"
    params: JSONObject = {
        "capability": "request",
        "operation": "run",
        "config": {},
        "input": {"url": server.url(target)},
        "context": {"network": NetworkPolicy.local().to_wire()},  # the test server is on this machine
    }
    request_id = runner.send_request("invoke", params)
    server.wait_for_request(target)  # cancel a request in flight, not one still queued in the runner
    runner.notify("$/cancelRequest", {"id": request_id})

    with pytest.raises(Cancelled):
        runner.wait(request_id, timeout=10)
    assert runner.invoke("request", {"url": server.url("/json")})["status"] == 200


def test_runner_deadline_stops_the_request(runner: RunnerClient, server: Server) -> None:
    with pytest.raises(RetryableError, match="200 ms timeout"):
        runner.invoke("request", {"url": server.url("/slow?seconds=300")}, context={"timeoutMs": 200})
