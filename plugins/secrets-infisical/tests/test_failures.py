"""Refused logins and permissions, missing folders, and an Infisical that is down, slow or not Infisical."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import CLIENT_ID, CLIENT_SECRET, READER_ID, READER_SECRET, StandIn
from synthral_secrets_infisical import InfisicalStore

from synthral_sdk.errors import NonRetryableError, RetryableError
from synthral_sdk.testing import call
from synthral_sdk.types import JSONObject

GRANTED = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def get(infisical: StandIn, name: str = "KEY", secrets: dict[str, str] = GRANTED, **config: object) -> JSONObject:
    return call(
        InfisicalStore(), {"name": name}, operation="get_secret", config=infisical.config(**config), secrets=secrets
    )


def test_a_wrong_client_secret_is_not_retried_and_says_what_to_check(infisical: StandIn) -> None:
    wrong = {"client_id": CLIENT_ID, "client_secret": "not-the-s3cret-at-all"}

    with pytest.raises(NonRetryableError, match="refused the Universal Auth login") as caught:
        get(infisical, secrets=wrong)

    message = caught.value.message
    assert "401: Invalid credentials" in message
    assert "client id and client secret" in message and "'client_id' and 'client_secret'" in message
    assert "not-the-s3cret-at-all" not in message
    assert caught.value.retryable is False
    assert caught.value.details == {"site": infisical.url, "status": 401}


def test_credentials_quoted_back_by_the_server_are_masked(infisical: StandIn) -> None:
    infisical.state.answer_next.append((400, f"clientSecret {CLIENT_SECRET} does not belong to {CLIENT_ID}"))

    with pytest.raises(NonRetryableError, match="refused logging in with Universal Auth") as caught:
        get(infisical)

    assert "(400: clientSecret *** does not belong to ***)" in caught.value.message
    assert "check the machine identity's client id and client secret" in caught.value.message


def test_an_unknown_client_id_is_refused_the_same_way(infisical: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="refused the Universal Auth login"):
        get(infisical, secrets={"client_id": "nobody", "client_secret": CLIENT_SECRET})


def test_a_token_refused_right_after_login_is_not_retried(infisical: StandIn) -> None:
    infisical.state.refuse_tokens = True

    with pytest.raises(NonRetryableError, match="refused a fresh access token while reading secret 'KEY'"):
        get(infisical)

    assert infisical.state.logins == 1


def test_a_missing_folder_is_a_config_problem_not_a_missing_secret(infisical: StandIn) -> None:
    for operation, payload in (
        ("get_secret", {"name": "KEY"}),
        ("put_secret", {"name": "KEY", "value": "v"}),
        ("delete_secret", {"name": "KEY"}),
    ):
        with pytest.raises(NonRetryableError, match="has no folder '/nowhere' in environment 'prod'") as caught:
            call(
                InfisicalStore(),
                payload,
                operation=operation,
                config=infisical.config(secret_path="/nowhere"),
                secrets=GRANTED,
            )
        assert "fix secret_path, environment or project_id" in caught.value.message


def test_a_secret_named_like_a_folder_is_still_just_missing(infisical: StandIn) -> None:
    assert get(infisical, "folder_path_environment")["value"] is None


def test_an_identity_without_write_permission_is_denied(infisical: StandIn) -> None:
    reader = {"client_id": READER_ID, "client_secret": READER_SECRET}

    with pytest.raises(NonRetryableError, match="denied writing secret 'KEY' in prod:/") as caught:
        call(
            InfisicalStore(),
            {"name": "KEY", "value": "v"},
            operation="put_secret",
            config=infisical.config(),
            secrets=reader,
        )

    assert "give the machine identity a role in project" in caught.value.message
    assert caught.value.details["status"] == 403


def test_another_project_is_denied(infisical: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="denied reading secret 'KEY'") as caught:
        get(infisical, project_id="someone-elses")

    assert "someone-elses" in caught.value.message


@pytest.mark.parametrize(
    ("status", "said"),
    [(503, "failed (503: Service unavailable) while reading secret 'KEY' in prod:/"), (429, "is rate limiting")],
)
def test_server_trouble_is_retryable(infisical: StandIn, status: int, said: str) -> None:
    infisical.state.put("KEY", "v")
    store = InfisicalStore()
    config = infisical.config()
    call(store, {"name": "KEY"}, operation="get_secret", config=config, secrets=GRANTED)  # logs in
    infisical.state.answer_next.append(status)

    with pytest.raises(RetryableError, match=re.escape(said)) as caught:
        call(store, {"name": "KEY"}, operation="get_secret", config=config, secrets=GRANTED)

    assert caught.value.details["status"] == status
    assert caught.value.retryable is True


def test_a_server_that_is_down_is_retryable(closed_port: int) -> None:
    config = {"site_url": f"http://127.0.0.1:{closed_port}", "project_id": "p", "environment": "prod"}

    with pytest.raises(RetryableError, match=f"could not reach Infisical at http://127.0.0.1:{closed_port}") as caught:
        call(InfisicalStore(), {"name": "KEY"}, operation="get_secret", config=config, secrets=GRANTED)

    assert "ConnectionError" in caught.value.message
    assert "check site_url and that the instance is up" in caught.value.message


def test_a_dropped_connection_is_tried_once_and_left_to_the_engine(infisical: StandIn) -> None:
    infisical.state.drop_next = 1

    with pytest.raises(RetryableError, match="could not reach Infisical"):
        get(infisical)

    assert infisical.state.logins == 1  # the SDK's own retries (up to four, with sleeps) are off


def test_a_slow_server_times_out(infisical: StandIn) -> None:
    infisical.state.stall = 5.0

    with pytest.raises(RetryableError, match=r"did not answer within 0\.3 s while logging in") as caught:
        get(infisical, timeout=0.3)

    assert "Raise the config's timeout" in caught.value.message


class _NotInfisical(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html>a login page</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def not_infisical() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotInfisical)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_site_that_is_not_infisical_points_at_site_url(not_infisical: str) -> None:
    config = {"site_url": not_infisical, "project_id": "p", "environment": "prod"}

    with pytest.raises(NonRetryableError, match="is not Infisical's API; check that site_url"):
        call(InfisicalStore(), {"name": "KEY"}, operation="get_secret", config=config, secrets=GRANTED)


def test_a_site_without_the_login_endpoint_points_at_site_url(infisical: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="has no Universal Auth login endpoint"):
        get(infisical, site_url=infisical.url + "/wrong-prefix")
