"""Webhook signature verification: Standard Webhooks and common provider schemes.

Each verifier checks the raw body exactly as received (never a re-serialised copy),
compares signatures in constant time, accepts any of several secrets (for rotation) and
rejects timestamps more than ``tolerance`` seconds away from now.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, Field

__all__ = [
    "DEFAULT_TOLERANCE",
    "WebhookScheme",
    "WebhookVerification",
    "sign_standard_webhook",
    "verify_webhook_signature",
]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a signed timestamp may be away from now (Standard Webhooks: 5 minutes)."""


class WebhookScheme(StrEnum):
    """How a webhook's sender signs its deliveries."""

    STANDARD = "standard-webhooks"
    GITHUB = "github"
    STRIPE = "stripe"
    SLACK = "slack"
    NONE = "none"


class WebhookVerification(BaseModel):
    """The verdict on one delivery."""

    valid: bool
    reason: str = Field(default="", description="Why the delivery was rejected; empty when valid.")
    delivery_id: str | None = Field(default=None, description="The sender's id for the delivery, for dedupe.")
    event_type: str | None = None


def _reject(reason: str, delivery_id: str | None = None) -> WebhookVerification:
    return WebhookVerification(valid=False, reason=reason, delivery_id=delivery_id)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _timestamp_ok(raw: str | None, now: float, tolerance: int) -> str | None:
    """Return a rejection reason, or None when the timestamp is fresh."""
    if raw is None:
        return "the timestamp header is missing"
    try:
        stamp = int(raw)
    except ValueError:
        return f"the timestamp {raw[:32]!r} is not an integer number of seconds"
    if abs(now - stamp) > tolerance:
        return f"the timestamp is {int(abs(now - stamp))} s away from now; at most {tolerance} s is accepted"
    return None


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64decode_lenient(text: str) -> bytes:
    """Base64 with or without its ``=`` padding: senders export secrets both ways.

    Raises:
        binascii.Error: ``text`` is not base64.
    """
    text = text.strip().rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _standard_key(secret: str) -> bytes:
    try:
        return _b64decode_lenient(secret.removeprefix("whsec_"))
    except binascii.Error:
        return secret.encode()


def sign_standard_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return a ``v1,<base64>`` Standard Webhooks signature (for senders and tests)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac(_standard_key(secret), content)).decode()


def _verify_ed25519(public_key: str, signature: bytes, content: bytes) -> bool:
    try:
        # cryptography is optional (synthral-sdk[ed25519]): most plugins never see v1a.
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the plugin's environment
        raise RuntimeError("v1a (ed25519) signatures need the 'cryptography' package") from exc
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64decode_lenient(public_key.removeprefix("whpk_")))
        key.verify(signature, content)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def _verify_standard(
    headers: dict[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> WebhookVerification:
    msg_id = headers.get("webhook-id")
    signatures = headers.get("webhook-signature")
    if not msg_id or not signatures:
        return _reject("the webhook-id or webhook-signature header is missing")
    if reason := _timestamp_ok(headers.get("webhook-timestamp"), now, tolerance):
        return _reject(reason, msg_id)
    content = f"{msg_id}.{headers['webhook-timestamp']}.".encode() + body
    for item in signatures.split():
        version, _, encoded = item.partition(",")
        try:
            given = _b64decode_lenient(encoded)
        except binascii.Error:
            continue
        for secret in secrets:
            if version == "v1" and not secret.startswith("whpk_"):
                if hmac.compare_digest(given, _hmac(_standard_key(secret), content)):
                    return WebhookVerification(valid=True, delivery_id=msg_id)
            elif version == "v1a" and secret.startswith("whpk_") and _verify_ed25519(secret, given, content):
                return WebhookVerification(valid=True, delivery_id=msg_id)
    return _reject("no signature matches any of the subscription's secrets", msg_id)


def _verify_github(
    headers: dict[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> WebhookVerification:
    del now, tolerance  # GitHub does not sign a timestamp
    delivery = headers.get("x-github-delivery")
    signature = headers.get("x-hub-signature-256", "")
    if not signature.startswith("sha256="):
        return _reject("the X-Hub-Signature-256 header is missing or not 'sha256=<hex>'", delivery)
    given = signature.removeprefix("sha256=")
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(given, expected):
            return WebhookVerification(valid=True, delivery_id=delivery, event_type=headers.get("x-github-event"))
    return _reject("the X-Hub-Signature-256 signature does not match", delivery)


def _verify_stripe(
    headers: dict[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> WebhookVerification:
    header = headers.get("stripe-signature", "")
    parts = [item.partition("=") for item in header.split(",")]
    stamp = next((value for key, _, value in parts if key == "t"), None)
    given = [value for key, _, value in parts if key == "v1"]
    if not given:
        return _reject("the Stripe-Signature header is missing or has no v1 signature")
    if reason := _timestamp_ok(stamp, now, tolerance):
        return _reject(reason)
    content = f"{stamp}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(candidate, expected) for candidate in given):
            return WebhookVerification(valid=True)
    return _reject("no v1 signature in Stripe-Signature matches")


def _verify_slack(
    headers: dict[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> WebhookVerification:
    stamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature", "")
    if not signature.startswith("v0="):
        return _reject("the X-Slack-Signature header is missing or not 'v0=<hex>'")
    if reason := _timestamp_ok(stamp, now, tolerance):
        return _reject(reason)
    content = f"v0:{stamp}:".encode() + body
    for secret in secrets:
        expected = "v0=" + hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature, expected):
            return WebhookVerification(valid=True)
    return _reject("the X-Slack-Signature signature does not match")


def _verify_none(
    headers: dict[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: int
) -> WebhookVerification:
    del headers, body, secrets, now, tolerance
    return WebhookVerification(valid=True)


_Verifier = Callable[[dict[str, str], bytes, Sequence[str], float, int], WebhookVerification]

_VERIFIERS: Final[dict[WebhookScheme, _Verifier]] = {
    WebhookScheme.STANDARD: _verify_standard,
    WebhookScheme.GITHUB: _verify_github,
    WebhookScheme.STRIPE: _verify_stripe,
    WebhookScheme.SLACK: _verify_slack,
    WebhookScheme.NONE: _verify_none,
}


def verify_webhook_signature(
    scheme: WebhookScheme,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> WebhookVerification:
    """Verify one delivery's signature.

    Args:
        scheme: The sender's signing scheme.
        headers: The request headers (any case).
        body: The raw request body, byte for byte as received.
        secrets: Every secret currently valid for the subscription; any may match.
            For Standard Webhooks ``v1a``, public keys start with ``whpk_``.
        now: The current time in seconds since the epoch (for tests).
        tolerance: Seconds a signed timestamp may differ from ``now``.

    Returns:
        A verdict; ``reason`` says what was wrong when it is not valid.
    """
    if not secrets and scheme is not WebhookScheme.NONE:
        return _reject("the subscription has no secret to verify with")
    verifier = _VERIFIERS[scheme]
    return verifier(_lower(headers), body, secrets, time.time() if now is None else now, tolerance)
