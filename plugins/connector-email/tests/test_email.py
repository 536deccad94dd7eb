"""Sending through a real local SMTP server (aiosmtpd) with AUTH, as a provider's relay would."""

from __future__ import annotations

import contextlib
import email
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import TLSFiles
from synthral_connector_email.plugin import Email, SendEmail

from synthral_sdk._conformance_sandbox import sandbox_unavailable
from synthral_sdk.errors import ConfigurationError, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, RunnerClient, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-email"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.endswith("@nowhere.test"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"ada", b"pw")
    return AuthResult(success=ok, handled=False)


@contextlib.contextmanager
def smtp_server(**tls: Any) -> Iterator[tuple[Mailbox, dict[str, str]]]:
    """An aiosmtpd server with AUTH on loopback; ``tls``: aiosmtpd's ssl_context (SMTPS) or tls_context (STARTTLS)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    options = {"auth_require_tls": False, **tls}
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=_authenticator, **options)
    controller.start()
    try:
        yield box, {"host": "127.0.0.1", "port": str(port), "security": "none", "username": "ada", "password": "pw"}
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, dict[str, str]]]:
    with smtp_server() as server:
        yield server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_multipart_message_reaches_every_recipient_bcc_kept_out_of_the_headers(
    smtp: tuple[Mailbox, dict[str, str]],
) -> None:
    box, secrets = smtp
    message = {
        "to": ["bo@acme.test"],
        "bcc": ["audit@acme.test"],
        "subject": "Report ready",
        "text": "See attached.",
        "html": "<p>See attached.</p>",
        "from_address": "ada@acme.test",
    }
    out = call(SendEmail(), message, secrets=secrets)
    assert out["accepted"] == ["bo@acme.test", "audit@acme.test"] and out["refused"] == {}
    sender, recipients, raw = box.messages[-1]
    parsed = email.message_from_bytes(raw)
    assert sender == "ada@acme.test" and recipients == ["bo@acme.test", "audit@acme.test"]
    assert parsed["Subject"] == "Report ready" and parsed["Bcc"] is None
    assert parsed.get_content_type() == "multipart/alternative" and parsed["Message-ID"] == out["message_id"]


def test_a_refused_recipient_is_reported_and_the_others_still_get_it(smtp: tuple[Mailbox, dict[str, str]]) -> None:
    box, secrets = smtp
    out = call(
        SendEmail(),
        {"to": ["bo@acme.test", "ghost@nowhere.test"], "subject": "x", "from_address": "ada@acme.test"},
        secrets=secrets,
    )
    assert out["accepted"] == ["bo@acme.test"] and out["refused"]["ghost@nowhere.test"].startswith("550")
    assert box.messages[-1][1] == ["bo@acme.test"]


def test_header_injection_and_a_wrong_password_are_refused(smtp: tuple[Mailbox, dict[str, str]]) -> None:
    box, secrets = smtp
    with pytest.raises(ConfigurationError, match="remove line breaks"):
        call(
            SendEmail(),
            {"to": ["bo@acme.test"], "subject": "hi\nBcc: evil@x.test", "from_address": "ada@acme.test"},
            secrets=secrets,
        )
    with pytest.raises(ConfigurationError, match="not an email address"):
        call(
            SendEmail(),
            {"to": ["bo@acme.test, evil@x.test"], "subject": "x", "from_address": "ada@acme.test"},
            secrets=secrets,
        )
    with pytest.raises(NonRetryableError, match="refused the login: 535"):
        call(
            SendEmail(),
            {"to": ["bo@acme.test"], "subject": "x", "from_address": "ada@acme.test"},
            secrets={**secrets, "password": "no"},
        )
    assert box.messages == []
    assert call(Email(), {}, operation="test_connection", secrets=secrets)["ok"] is True


MAIL = {"to": ["bo@acme.test"], "subject": "x", "from_address": "ada@acme.test"}


def test_the_smtp_server_is_reached_only_where_the_network_policy_allows(smtp: tuple[Mailbox, dict[str, str]]) -> None:
    box, secrets = smtp
    # A server's policy refuses this machine: a clear refusal, not a connection error to retry.
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        call(SendEmail(), MAIL, secrets=secrets, network=NetworkPolicy.server())
    # A private address is refused by its number, before anything connects.
    with pytest.raises(EgressDenied, match="private"):
        call(SendEmail(), MAIL, secrets={**secrets, "host": "10.0.0.1"}, network=NetworkPolicy.server())
    status = call(Email(), {}, operation="test_connection", secrets=secrets, network=NetworkPolicy.server())
    assert status["ok"] is False and "SYNTHRAL_EGRESS_ALLOW" in status["message"]
    assert box.messages == []
    # Allowed but unreachable stays the retryable "could not reach".
    with pytest.raises(RetryableError, match="could not reach the SMTP server"):
        call(SendEmail(), MAIL, secrets={**secrets, "port": str(closed_port())})
    # Reached by a name, judged by the addresses it resolves to: the same server.
    out = call(SendEmail(), MAIL, secrets={**secrets, "host": "localhost"})
    assert out["accepted"] == ["bo@acme.test"] and len(box.messages) == 1


def _server_tls(files: TLSFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_runs_on_the_policy_connection_and_checks_the_certificate_against_the_host_name(
    trusted: TLSFiles, security: str
) -> None:
    server_tls = _server_tls(trusted)
    # STARTTLS: the server refuses AUTH before it, so a login proves the session was upgraded.
    tls = {"ssl_context": server_tls} if security == "tls" else {"tls_context": server_tls, "auth_require_tls": True}
    with smtp_server(**tls) as (box, secrets):
        by_name = {**secrets, "host": "localhost", "security": security}
        by_address = {**by_name, "host": "127.0.0.1"}
        # The operator allowed the name localhost, not loopback addresses: the policy sees the name
        # the credential gives, and TLS checks the certificate (made for localhost) against it.
        named = NetworkPolicy.server(["localhost"])
        assert call(SendEmail(), MAIL, secrets=by_name, network=named)["accepted"] == ["bo@acme.test"]
        with pytest.raises(EgressDenied, match="loopback"):
            call(SendEmail(), MAIL, secrets=by_address, network=named)
        # Reached by its address, the certificate does not match: verification is as strict as before.
        with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):
            call(SendEmail(), MAIL, secrets=by_address)
        assert len(box.messages) == 1


def test_the_plugin_runs_in_the_os_sandbox_and_sends_through_its_egress_proxy(
    smtp: tuple[Mailbox, dict[str, str]],
) -> None:
    if (problem := sandbox_unavailable()) is not None:
        pytest.skip(f"no OS sandbox here: {problem}")
    box, secrets = smtp
    with RunnerClient("synthral-connector-email", sandboxed=True) as runner:
        assert runner.sandboxed  # it no longer asks to run outside the sandbox
        # The sandbox has no network of its own: these went out through the egress proxy. The
        # server greets first, often in the same segment as the proxy's answer: still read.
        for n in range(3):
            out = runner.invoke("send_email", MAIL, context={"secrets": {**secrets, "host": "localhost"}})
            assert out["accepted"] == ["bo@acme.test"] and len(box.messages) == n + 1
        refused = {"secrets": secrets, "network": NetworkPolicy.server().to_wire()}
        with pytest.raises(EgressDenied, match="SYNTHRAL_EGRESS_ALLOW"):
            runner.invoke("send_email", MAIL, context=refused)
    assert len(box.messages) == 3
