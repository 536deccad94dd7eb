"""Error statuses, transport failures, timeouts, redirects and TLS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

import pytest
from support import Server
from synthral_http import HttpRequest, parse_retry_after

from synthral_sdk import BlobStore, Context
from synthral_sdk.errors import NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import call

NODE = HttpRequest()


# -- statuses ----------------------------------------------------------------------------


def test_404_is_not_retryable(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError) as caught:
        call(NODE, {"url": server.url("/status/404?x=1")}, blobs=blobs)

    message = caught.value.message
    assert message.startswith(f"GET {server.url('/status/404')} answered 404 Not Found (status 404 body)")
    assert "check the URL" in message
    assert "raise_for_status" in message
    assert "x=1" not in message
    assert caught.value.details["status"] == 404
    assert caught.value.retryable is False


def test_401_hints_at_the_credential(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match="answered 401 Unauthorized") as caught:
        call(NODE, {"url": server.url("/bearer")}, blobs=blobs)

    assert "grant the node a credential" in caught.value.message


def test_500_is_retryable(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(RetryableError, match="answered 500 Internal Server Error") as caught:
        call(NODE, {"url": server.url("/status/500")}, blobs=blobs)

    assert "the server failed" in caught.value.message
    assert caught.value.details == {"status": 500, "retry_after": None, "url": server.url("/status/500")}
    assert caught.value.retryable is True


def test_429_is_retryable_with_retry_after(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(RetryableError, match="answered 429 Too Many Requests") as caught:
        call(NODE, {"url": server.url("/status/429?retry_after=7")}, blobs=blobs)

    assert "rate limiting" in caught.value.message
    assert "after 7 s" in caught.value.message
    assert caught.value.details["status"] == 429
    assert caught.value.details["retry_after"] == 7


def test_503_with_a_date_in_retry_after(server: Server, blobs: BlobStore) -> None:
    when = quote(format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True))

    with pytest.raises(RetryableError, match="503 Service Unavailable") as caught:
        call(NODE, {"url": server.url(f"/status/503?retry_after={when}")}, blobs=blobs)

    retry_after = caught.value.details["retry_after"]
    assert isinstance(retry_after, int)
    assert 0 <= retry_after <= 2


def test_statuses_are_data_without_raise_for_status(server: Server, blobs: BlobStore) -> None:
    config = {"raise_for_status": False}

    missing = call(NODE, {"url": server.url("/status/404")}, config=config, blobs=blobs)
    failing = call(NODE, {"url": server.url("/status/503")}, config=config, blobs=blobs)

    assert (missing["status"], missing["ok"], missing["text"]) == (404, False, "status 404 body")
    assert (failing["status"], failing["ok"]) == (503, False)


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


# -- transport failures ------------------------------------------------------------------


def test_connection_refused_is_retryable_and_names_the_host(closed_port: int, blobs: BlobStore) -> None:
    with pytest.raises(RetryableError, match=f"could not connect to 127.0.0.1:{closed_port}") as caught:
        call(NODE, {"url": f"http://127.0.0.1:{closed_port}/x?key=abc"}, blobs=blobs)

    assert "ConnectError" in caught.value.message
    assert "abc" not in caught.value.message
    assert caught.value.details["host"] == f"127.0.0.1:{closed_port}"


def test_dropped_connection_is_retryable(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(RetryableError, match="broke the HTTP protocol") as caught:
        call(NODE, {"url": server.url("/drop")}, blobs=blobs)

    assert "RemoteProtocolError" in caught.value.message
    assert "127.0.0.1" in caught.value.message


def test_slow_server_times_out(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(RetryableError, match="timed out") as caught:
        call(NODE, {"url": server.url("/slow?seconds=5")}, config={"timeout": 0.3}, blobs=blobs)

    assert "127.0.0.1" in caught.value.message
    assert "timeout" in caught.value.message


def test_timeout_covers_the_whole_body(server: Server, blobs: BlobStore) -> None:
    # Each byte arrives within the timeout, but the whole body takes four seconds.
    with pytest.raises(RetryableError, match=r"timed out.*within 0\.5 s") as caught:
        call(NODE, {"url": server.url("/trickle")}, config={"timeout": 0.5}, blobs=blobs)

    assert caught.value.details["timeout"] == 0.5


def test_cancellation_stops_the_request(server: Server, blobs: BlobStore) -> None:
    # The route answers after five minutes; only cancellation lets this test end in time.
    target = "/slow?seconds=300&call=in-process"

    async def scenario() -> None:
        task = asyncio.create_task(
            NODE.call("run", {}, {"url": server.url(target)}, Context(blobs=blobs, network=NetworkPolicy.local()))
        )
        await asyncio.to_thread(server.wait_for_request, target)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


# -- redirects ---------------------------------------------------------------------------


def test_redirects_are_followed_and_listed(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/redirect/3")}, blobs=blobs)

    assert output["url"] == server.url("/json")
    assert output["json"] == {"hello": "world", "n": 1}
    assert output["redirects"] == [server.url(f"/redirect/{n}") for n in (3, 2, 1)]


def test_redirects_are_returned_when_not_followed(server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": server.url("/redirect/3")}, config={"follow_redirects": False}, blobs=blobs)

    assert output["status"] == 302
    assert output["ok"] is False
    assert output["headers"]["location"] == "/redirect/2"
    assert output["redirects"] == []
    assert output["format"] == "empty"


def test_redirect_loop_fails_naming_the_limit(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match="redirected more than 10 times") as caught:
        call(NODE, {"url": server.url("/loop")}, blobs=blobs)

    assert "max_redirects" in caught.value.message
    assert "loop" in caught.value.message
    assert caught.value.details["max_redirects"] == 10
    assert caught.value.details["redirects"] == [server.url("/loop")] * 11


def test_max_redirects_is_configurable(server: Server, blobs: BlobStore) -> None:
    config = {"max_redirects": 2}

    with pytest.raises(NonRetryableError, match="redirected more than 2 times"):
        call(NODE, {"url": server.url("/redirect/3")}, config=config, blobs=blobs)
    assert call(NODE, {"url": server.url("/redirect/2")}, config=config, blobs=blobs)["status"] == 200


def test_307_keeps_method_and_body(server: Server, blobs: BlobStore) -> None:
    target = quote(server.url("/echo"), safe="")
    output = call(
        NODE,
        {"url": server.url(f"/redirect-to?status=307&url={target}"), "method": "POST", "json": {"a": 1}},
        blobs=blobs,
    )

    assert output["json"]["method"] == "POST"
    assert output["json"]["body"] == '{"a":1}'


def test_303_turns_post_into_get(server: Server, blobs: BlobStore) -> None:
    target = quote(server.url("/echo"), safe="")
    output = call(
        NODE,
        {"url": server.url(f"/redirect-to?status=303&url={target}"), "method": "POST", "json": {"a": 1}},
        blobs=blobs,
    )

    assert output["json"]["method"] == "GET"
    assert output["json"]["body"] == ""


def test_redirect_to_another_scheme_is_not_retryable(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match="not http or https"):
        call(NODE, {"url": server.url("/redirect-to?url=ftp%3A%2F%2Fexample.org%2Ffile")}, blobs=blobs)


# -- TLS ---------------------------------------------------------------------------------


def test_self_signed_certificate_fails_verification(tls_server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match=r"TLS certificate of 127\.0\.0\.1") as caught:
        call(NODE, {"url": tls_server.url("/json")}, blobs=blobs)

    assert "verify_tls" in caught.value.message


def test_verification_can_be_turned_off(tls_server: Server, blobs: BlobStore) -> None:
    output = call(NODE, {"url": tls_server.url("/json")}, config={"verify_tls": False}, blobs=blobs)

    assert output["json"] == {"hello": "world", "n": 1}
