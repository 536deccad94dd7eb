"""Send security events as syslog lines with a JSON body: what a Wazuh agent's ``syslog`` input reads.

Each event is one RFC 5424 message: ``<PRI>1 TIMESTAMP HOST APP - ID - {json}``. Wazuh's JSON
decoder picks the object after the header apart, so rules can match ``synthral.action`` and
friends. UDP sends one datagram per event; TCP frames each message by octet counting
(RFC 6587), which Wazuh's remoted and rsyslog both accept.

Both obey the call's network policy, and both leave the OS sandbox through the host's egress
proxy: TCP with ``context.tcp_connect``, UDP with ``context.udp_send`` (SDK 1.11).
"""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from synthral_sdk import Context, Node
from synthral_sdk.errors import RetryableError

__all__ = ["SecurityEvent", "SendConfig", "SendInput", "SendOutput", "SendSecurityEvents", "format_event"]

_SEVERITY = {"info": 6, "notice": 5, "warning": 4, "error": 3, "critical": 2}
_FACILITY_AUTHPRIV = 10


class SecurityEvent(BaseModel):
    """One security-relevant act, as the host's audit log records it."""

    action: str = Field(min_length=1, max_length=64, description="What happened, e.g. auth.login_failed.")
    outcome: Literal["success", "failure"] = "success"
    at: datetime | None = Field(default=None, description="When; now if absent.")
    actor_id: str | None = None
    actor_kind: str | None = None
    workspace_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    details: dict[str, object] = Field(default_factory=dict)
    severity: Literal["info", "notice", "warning", "error", "critical"] | None = Field(
        default=None, description="Syslog severity; failures default to warning, the rest to notice."
    )


class SendConfig(BaseModel):
    """Where the SIEM listens."""

    model_config = {"extra": "forbid"}

    host: str = Field(min_length=1, description="The Wazuh agent's or collector's address.")
    port: int = Field(default=514, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    app_name: str = Field(default="synthral", min_length=1, max_length=48, pattern=r"^[!-~]+$")
    timeout: float = Field(default=5.0, gt=0, le=60)


class SendInput(BaseModel):
    """The events to send."""

    events: list[SecurityEvent] = Field(min_length=1, max_length=1000)


class SendOutput(BaseModel):
    """How many were sent."""

    sent: int


def format_event(event: SecurityEvent, app_name: str, hostname: str) -> bytes:
    """The event as one RFC 5424 message with a JSON body."""
    severity = event.severity or ("warning" if event.outcome == "failure" else "notice")
    pri = _FACILITY_AUTHPRIV * 8 + _SEVERITY[severity]
    at = (event.at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {"synthral": event.model_dump(mode="json", exclude={"severity", "at"}) | {"at": at}}
    msgid = event.action.replace(" ", "_")[:32]
    text = f"<{pri}>1 {at} {hostname or '-'} {app_name} - {msgid} - {json.dumps(body, separators=(',', ':'))}"
    return text.encode()


class SendSecurityEvents(Node[SendInput, SendOutput, SendConfig]):
    """Send security events (sign-ins, role changes, secret access) to Wazuh or any syslog SIEM."""

    name = "send"
    title = "Send security events (Wazuh / SIEM)"

    async def run(self, inputs: SendInput, config: SendConfig, context: Context) -> SendOutput:
        """Send every event, in order, where the call's network policy lets the plugin reach.

        Raises:
            EgressDenied: The policy refuses the SIEM's address (this machine, a private network
                the operator did not allow); the message names the fix.
            RetryableError: The SIEM could not be reached (connection refused, timeout).
        """
        hostname = socket.gethostname()
        messages = [format_event(event, config.app_name, hostname) for event in inputs.events]
        try:
            if config.transport == "udp":
                send = asyncio.to_thread(context.udp_send, config.host, config.port, messages)
            else:
                send = asyncio.to_thread(_send_tcp, context, config.host, config.port, messages, config.timeout)
            await asyncio.wait_for(send, config.timeout)
        except (OSError, TimeoutError) as exc:  # ConnectionError included; EgressDenied is raised as it is
            raise RetryableError(
                f"could not send to {config.transport}://{config.host}:{config.port}: {exc or type(exc).__name__}; "
                "check that the Wazuh agent (or collector) listens there",
                details={"host": config.host, "port": config.port},
            ) from None
        context.log.info("sent %d security event(s) to %s:%d", len(messages), config.host, config.port)
        return SendOutput(sent=len(messages))


def _send_tcp(context: Context, host: str, port: int, messages: list[bytes], timeout: float) -> None:
    """The messages as octet-counted frames (RFC 6587) on one connection the policy let through."""
    with context.tcp_connect(host, port, timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"".join(str(len(m)).encode() + b" " + m for m in messages))
