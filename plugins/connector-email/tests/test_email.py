"""Sending through a real local SMTP server (aiosmtpd) with AUTH, as a provider's relay would."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from synthral_connector_email.plugin import Email, SendEmail

from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import PluginConformance, call


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


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, dict[str, str]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=_authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield box, {"host": "127.0.0.1", "port": str(port), "security": "none", "username": "ada", "password": "pw"}
    finally:
        controller.stop()


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
