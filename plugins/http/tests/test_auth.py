"""Credentials: every auth type, what crosses redirects, and that the value never leaks."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest
from support import BASIC_USER, SECRET, Server
from synthral_http import HttpRequest

from synthral_sdk import BlobStore
from synthral_sdk.errors import ConfigInvalid, NonRetryableError, RetryableError, SynthralError
from synthral_sdk.testing import call

NODE = HttpRequest()
GRANTED = {"credential": SECRET}
SECRET_FORMS = (SECRET, base64.b64encode(f"{BASIC_USER}:{SECRET}".encode()).decode())

AUTH_ROUTES = [
    ({"type": "bearer"}, "/bearer"),
    ({"type": "basic", "username": BASIC_USER}, "/basic"),
    ({"type": "header", "name": "X-Api-Key"}, "/key-header"),
    ({"type": "query", "name": "api_key"}, "/key-query"),
]


@pytest.mark.parametrize(("auth", "path"), AUTH_ROUTES)
def test_each_auth_type_is_accepted(server: Server, blobs: BlobStore, auth: dict[str, str], path: str) -> None:
    output = call(NODE, {"url": server.url(path)}, config={"auth": auth}, secrets=GRANTED, blobs=blobs)

    assert output["json"] == {"authenticated": True}


def test_basic_credential_may_hold_the_user_name(server: Server, blobs: BlobStore) -> None:
    output = call(
        NODE,
        {"url": server.url("/basic")},
        config={"auth": {"type": "basic"}},
        secrets={"credential": f"{BASIC_USER}:{SECRET}"},
        blobs=blobs,
    )

    assert output["json"] == {"authenticated": True}


def test_query_credential_is_masked_in_the_output_url(server: Server, blobs: BlobStore) -> None:
    output = call(
        NODE,
        {"url": server.url("/key-query?page=2")},
        config={"auth": {"type": "query", "name": "api_key"}},
        secrets=GRANTED,
        blobs=blobs,
    )

    assert output["url"] == server.url("/key-query?page=2&api_key=***")
    assert SECRET not in str(output)


def test_query_credential_leaves_a_signed_query_as_it_was(server: Server, blobs: BlobStore) -> None:
    output = call(
        NODE,
        {"url": server.url("/echo?sig=a%2Fb+c&x=1"), "query": {"page": 2}},
        config={"auth": {"type": "query", "name": "api_key"}},
        secrets=GRANTED,
        blobs=blobs,
    )

    assert output["json"]["query"] == {"sig": ["a/b c"], "x": ["1"], "page": ["2"], "api_key": [SECRET]}
    assert output["url"] == server.url("/echo?sig=a%2Fb+c&x=1&page=2&api_key=***")


def test_auth_replaces_a_header_of_the_same_name(server: Server, blobs: BlobStore) -> None:
    output = call(
        NODE,
        {"url": server.url("/bearer"), "headers": {"authorization": "Bearer stale"}},
        config={"auth": {"type": "bearer"}},
        secrets=GRANTED,
        blobs=blobs,
    )

    assert output["json"] == {"authenticated": True}


def test_missing_credential_says_to_grant_one(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(ConfigInvalid, match="grant the node a credential") as caught:
        call(NODE, {"url": server.url("/bearer")}, config={"auth": {"type": "bearer"}}, blobs=blobs)

    assert "auth type 'bearer'" in caught.value.message


def test_basic_without_user_name_needs_a_pair(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(ConfigInvalid, match="'username:password'") as caught:
        call(NODE, {"url": server.url("/basic")}, config={"auth": {"type": "basic"}}, secrets=GRANTED, blobs=blobs)

    assert SECRET not in caught.value.message


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ({"type": "header"}, "needs 'name'"),
        ({"type": "query"}, "needs 'name'"),
        ({"type": "bearer", "name": "X"}, "takes no 'name'"),
        ({"type": "header", "name": "X-Key", "username": "u"}, "takes no 'username'"),
        ({"type": "header", "name": "bad header"}, "not a valid header name"),
        ({"type": "digest"}, "config field 'auth.type'"),
        ({"type": "bearer", "token": "inline"}, "Extra inputs are not permitted"),
    ],
)
def test_auth_config_is_checked(server: Server, blobs: BlobStore, auth: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigInvalid, match=problem):
        call(NODE, {"url": server.url("/json")}, config={"auth": auth}, secrets=GRANTED, blobs=blobs)


@pytest.mark.parametrize(("auth", "path"), AUTH_ROUTES)
def test_credential_stays_on_same_origin_redirects(
    server: Server, blobs: BlobStore, auth: dict[str, str], path: str
) -> None:
    target = quote(server.url(path), safe="")

    output = call(
        NODE, {"url": server.url(f"/redirect-to?url={target}")}, config={"auth": auth}, secrets=GRANTED, blobs=blobs
    )

    assert output["json"] == {"authenticated": True}
    assert SECRET not in str(output)


@pytest.mark.parametrize(("auth", "_path"), AUTH_ROUTES)
def test_credential_never_reaches_another_origin(
    server: Server, other_server: Server, blobs: BlobStore, auth: dict[str, str], _path: str
) -> None:
    target = quote(other_server.url("/echo"), safe="")

    output = call(
        NODE, {"url": server.url(f"/redirect-to?url={target}")}, config={"auth": auth}, secrets=GRANTED, blobs=blobs
    )

    seen = output["json"]
    assert seen["path"] == "/echo"
    assert all(form not in str(seen) for form in SECRET_FORMS)
    assert "authorization" not in seen["headers"]


# -- the value never leaks ---------------------------------------------------------------


def failures(server: Server, closed_port: int) -> list[tuple[dict[str, object], dict[str, str], type[SynthralError]]]:
    """Failing calls, each carrying the credential, with the error each must raise."""
    return [
        # The server echoes the request, credential included, in a 400 body that the error quotes.
        ({"url": server.url("/echo-400")}, {"type": "bearer"}, NonRetryableError),
        ({"url": server.url("/echo-400")}, {"type": "basic", "username": BASIC_USER}, NonRetryableError),
        ({"url": server.url("/echo-400")}, {"type": "header", "name": "X-Api-Key"}, NonRetryableError),
        ({"url": server.url("/echo-400")}, {"type": "query", "name": "api_key"}, NonRetryableError),
        ({"url": f"http://127.0.0.1:{closed_port}/x"}, {"type": "query", "name": "api_key"}, RetryableError),
        ({"url": server.url("/loop")}, {"type": "query", "name": "api_key"}, NonRetryableError),
        ({"url": server.url(f"/status/500?k={SECRET}")}, {"type": "bearer"}, RetryableError),
    ]


def test_credential_never_appears_in_errors_or_logs(
    server: Server, blobs: BlobStore, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    for payload, auth, expected in failures(server, closed_port):
        with pytest.raises(expected) as caught:
            call(NODE, payload, config={"auth": auth}, secrets=GRANTED, blobs=blobs)
        text = f"{caught.value.message} {caught.value.details}"
        assert all(form not in text for form in SECRET_FORMS), text

    assert len([r for r in caplog.records if r.name == "synthral.plugin"]) == len(failures(server, closed_port))
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert all(form not in logged for form in SECRET_FORMS), logged


def test_echoed_credential_is_masked_in_the_error(server: Server, blobs: BlobStore) -> None:
    with pytest.raises(NonRetryableError, match="answered 400 Bad Request") as caught:
        call(NODE, {"url": server.url("/echo-400")}, config={"auth": {"type": "bearer"}}, secrets=GRANTED, blobs=blobs)

    assert "Bearer ***" in caught.value.message
