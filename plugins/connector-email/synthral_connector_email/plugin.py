"""The email connector: send a message over SMTP (RFC 5321), read mail over IMAP (reading.py).

The credential names the server: ``host``, ``port``, ``security`` (``starttls``, ``tls`` or
``none``; ``none`` only for a relay on the same network), ``username`` and ``password``.
Headers are built by :class:`email.message.EmailMessage`, which refuses line breaks in
header values, so an input cannot inject headers or recipients. Connections to both servers
go through the call's network policy (transport.py), so the plugin runs in the OS sandbox.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import (
    AuthSpec,
    ConnectionCheck,
    ConnectionStatus,
    Connector,
    Context,
    CredentialField,
    NoConfig,
    Node,
    Trigger,
    hookimpl,
)
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

from .imap import imap_session
from .reading import FetchMessage, FlagMessages, ListMessages, MoveMessages, NewEmail
from .transport import PolicySMTP, PolicySMTPSSL

__all__ = ["Email", "SendEmail", "synthral_connectors", "synthral_triggers"]

SECRETS = ("host", "port", "security", "username", "password", "from_address")
ALL_SECRETS = (*SECRETS, "imap_host", "imap_port", "imap_security")
ADDRESS = r"^[^\s@<>,;]+@[^\s@<>,;]+$"


class SendInput(BaseModel):
    """The message."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, max_length=100, description="Recipients' addresses.")
    cc: list[str] = Field(default_factory=list, max_length=100)
    bcc: list[str] = Field(default_factory=list, max_length=100)
    subject: str = Field(max_length=998)
    text: str = Field(default="", description="The plain-text body.")
    html: str | None = Field(default=None, description="An HTML body, sent beside the text as multipart/alternative.")
    from_address: str | None = Field(default=None, description="Defaults to the credential's from_address or username.")
    reply_to: str | None = None


class SendOutput(BaseModel):
    """What the server accepted."""

    message_id: str
    accepted: list[str]
    refused: dict[str, str] = Field(default_factory=dict, description="Recipients the server refused, with its reply.")


def _check(addresses: list[str], field: str) -> None:
    for address in addresses:
        if not re.fullmatch(ADDRESS, address):
            raise ConfigurationError(
                f"'{field}' holds {address[:100]!r}, which is not an email address like ada@example.com"
            )


def _open(context: Context) -> smtplib.SMTP:
    """A logged-in SMTP client, its connection made through the call's network policy (:mod:`.transport`)."""
    secrets = context.secrets
    host = secrets.get("host")
    if not host:
        raise ConfigurationError(
            "connector 'email' was granted no 'host'; connect it first (host, port, security, username, password)"
        )
    security = secrets.get("security", "starttls")
    if security not in ("starttls", "tls", "none"):
        raise ConfigurationError(f"the credential's 'security' is {security!r}; use starttls, tls or none")
    port = int(secrets.get("port") or (465 if security == "tls" else 587))
    timeout = min(60.0, context.time_remaining() or 30.0)
    client: smtplib.SMTP | None = None
    try:
        if security == "tls":
            client = PolicySMTPSSL(context, host, port, timeout=timeout, tls=ssl.create_default_context())
        else:
            client = PolicySMTP(context, host, port, timeout=timeout)
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
        if secrets.get("username"):
            client.login(secrets["username"], secrets.get("password", ""))
    except BaseException:
        if client is not None:
            client.close()
        raise
    return client


def _smtp(context: Context) -> smtplib.SMTP:
    secrets = context.secrets
    host, port = secrets.get("host", ""), secrets.get("port", "")
    try:
        return _open(context)
    except smtplib.SMTPAuthenticationError as exc:
        raise NonRetryableError(
            f"the SMTP server refused the login: {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ConfigurationError(
            f"the SMTP server does not offer what the credential asks ({exc}); check 'security'"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise RetryableError(f"could not reach the SMTP server {host}:{port}: {type(exc).__name__}: {exc}") from None


class SendEmail(Node[SendInput, SendOutput, NoConfig]):
    """Send an email."""

    name = "send_email"
    title = "Send email"
    secrets = SECRETS

    def run(self, inputs: SendInput, config: NoConfig, context: Context) -> SendOutput:
        """Build the message and hand it to the server."""
        sender = inputs.from_address or context.secrets.get("from_address") or context.secrets.get("username") or ""
        _check([sender], "from_address")
        _check(inputs.to, "to")
        _check(inputs.cc, "cc")
        _check(inputs.bcc, "bcc")
        message = EmailMessage()
        try:
            message["From"] = sender
            message["To"] = ", ".join(inputs.to)
            if inputs.cc:
                message["Cc"] = ", ".join(inputs.cc)
            if inputs.reply_to:
                message["Reply-To"] = inputs.reply_to
            message["Subject"] = inputs.subject
        except ValueError as exc:
            raise ConfigurationError(f"a header would break the message: {exc}; remove line breaks from it") from None
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        message.set_content(inputs.text or "")
        if inputs.html is not None:
            message.add_alternative(inputs.html, subtype="html")
        recipients = [*inputs.to, *inputs.cc, *inputs.bcc]
        client = _smtp(context)
        try:
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise NonRetryableError(f"the SMTP server refused every recipient: {exc.recipients}") from None
        except smtplib.SMTPResponseException as exc:
            error = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            if 400 <= exc.smtp_code < 500:
                raise RetryableError(f"the SMTP server deferred the message: {error}") from None
            raise NonRetryableError(f"the SMTP server rejected the message: {error}") from None
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
        bad = {rcpt: f"{code} {text.decode(errors='replace')}" for rcpt, (code, text) in refused.items()}
        return SendOutput(
            message_id=str(message["Message-ID"]), accepted=[r for r in recipients if r not in bad], refused=bad
        )


class Email(Connector[NoConfig]):
    """Email: sending over SMTP, reading over IMAP, with one login."""

    name = "email"
    title = "Email (SMTP, IMAP)"
    auth = AuthSpec(
        type="basic",
        fields=[
            CredentialField(name="host", title="SMTP server (to send)", secret=False),
            CredentialField(name="port", title="SMTP port (587 for STARTTLS, 465 for TLS)", secret=False),
            CredentialField(name="security", title="SMTP security: starttls, tls or none", secret=False),
            CredentialField(name="username", title="User name", secret=False),
            CredentialField(name="password", title="Password or app password"),
            CredentialField(name="from_address", title="Default sender", secret=False),
            CredentialField(name="imap_host", title="IMAP server (to read)", secret=False),
            CredentialField(name="imap_port", title="IMAP port (993 for TLS, 143 for STARTTLS)", secret=False),
            CredentialField(name="imap_security", title="IMAP security: tls, starttls or none", secret=False),
        ],
    )
    actions = (SendEmail, ListMessages, FetchMessage, MoveMessages, FlagMessages)
    secrets = ALL_SECRETS

    def test_connection(self, request: ConnectionCheck, config: NoConfig, context: Context) -> ConnectionStatus:
        """Log in to each server the credential names (SMTP, IMAP or both)."""
        secrets = context.secrets
        if not secrets.get("host") and not secrets.get("imap_host"):
            return ConnectionStatus(ok=False, message="the credential names no server; set host (SMTP) or imap_host")
        done: list[str] = []
        try:
            if secrets.get("host"):
                _smtp(context).quit()
                done.append("SMTP")
            if secrets.get("imap_host"):
                with imap_session(context):
                    done.append("IMAP")
        except (ConfigurationError, NonRetryableError, RetryableError) as exc:
            return ConnectionStatus(ok=False, message=exc.message)
        return ConnectionStatus(ok=True, message=f"the {' and '.join(done)} server accepted the login")


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the email connector (its actions come with it)."""
    return [Email()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the new-mail trigger."""
    return [NewEmail()]
