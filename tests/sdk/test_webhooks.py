"""Webhook signatures: Standard Webhooks v1 and v1a, GitHub, Stripe, Slack."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from synthral_sdk.webhooks import WebhookScheme, sign_standard_webhook, verify_webhook_signature

NOW = 1_700_000_000
SECRET = "whsec_" + base64.b64encode(b"a-32-byte-secret-for-the-tests!!").decode()
BODY = b'{"type":"invoice.paid","id":"evt_1"}'
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()


def standard_headers(body: bytes = BODY, secret: str = SECRET, stamp: int = NOW) -> dict[str, str]:
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard_webhook(secret, "msg_1", stamp, body),
    }


def verify(scheme: WebhookScheme, headers: dict[str, str], body: bytes, secrets: list[str]) -> tuple[bool, str]:
    verdict = verify_webhook_signature(scheme, headers, body, secrets, now=NOW)
    return verdict.valid, verdict.reason


def test_standard_webhook_valid_and_id_reported() -> None:
    verdict = verify_webhook_signature(WebhookScheme.STANDARD, standard_headers(), BODY, [SECRET], now=NOW)
    assert verdict.valid and verdict.delivery_id == "msg_1"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (h, b.replace(b'"id"', b'"id" ')), "no signature matches"),  # re-serialised body
        (lambda h, b: ({**h, "webhook-signature": sign_standard_webhook(OTHER, "msg_1", NOW, b)}, b), "no signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b), "timestamp header is missing"),
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW - 301)}, b), "301 s away"),
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW + 301)}, b), "301 s away"),
    ],
)  # fmt: skip
def test_standard_webhook_rejections(mutate: object, reason: str) -> None:
    headers, body = mutate(standard_headers(), BODY)  # type: ignore[operator]
    valid, why = verify(WebhookScheme.STANDARD, headers, body, [SECRET])
    assert not valid and reason in why


def test_a_timestamp_within_tolerance_passes() -> None:
    headers = standard_headers(stamp=NOW - 299)
    assert verify(WebhookScheme.STANDARD, headers, BODY, [SECRET])[0]


def test_one_valid_signature_among_several_and_rotated_secrets() -> None:
    old = "whsec_" + base64.b64encode(b"o" * 32).decode()
    headers = standard_headers()
    headers["webhook-signature"] = (
        f"v1,{base64.b64encode(b'garbage').decode()} v1,notbase64!! " + headers["webhook-signature"]
    )
    assert verify(WebhookScheme.STANDARD, headers, BODY, [old, SECRET])[0]
    assert not verify(WebhookScheme.STANDARD, headers, BODY, [old])[0]


def test_standard_webhook_v1a_ed25519() -> None:
    key = Ed25519PrivateKey.generate()
    public = "whpk_" + base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    signature = base64.b64encode(key.sign(f"msg_1.{NOW}.".encode() + BODY)).decode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": f"v1a,{signature}"}
    assert verify(WebhookScheme.STANDARD, headers, BODY, [public])[0]
    assert not verify(WebhookScheme.STANDARD, headers, BODY + b" ", [public])[0]
    assert not verify(WebhookScheme.STANDARD, headers, BODY, [SECRET])[0]  # an HMAC secret cannot check v1a


def test_github_signature() -> None:
    secret = "gh-secret"
    good = "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": good, "X-GitHub-Delivery": "d-1", "X-GitHub-Event": "push"}
    verdict = verify_webhook_signature(WebhookScheme.GITHUB, headers, BODY, [secret])
    assert verdict.valid and verdict.delivery_id == "d-1" and verdict.event_type == "push"
    assert not verify(WebhookScheme.GITHUB, {**headers, "X-Hub-Signature-256": "sha256=00"}, BODY, [secret])[0]
    assert "missing" in verify(WebhookScheme.GITHUB, {}, BODY, [secret])[1]


def test_stripe_signature() -> None:
    secret = "whsec_stripe"
    sig = hmac.new(secret.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    header = f"t={NOW},v1=deadbeef,v1={sig}"
    assert verify(WebhookScheme.STRIPE, {"Stripe-Signature": header}, BODY, [secret])[0]
    stale = f"t={NOW - 400},v1={sig}"
    assert not verify(WebhookScheme.STRIPE, {"Stripe-Signature": stale}, BODY, [secret])[0]


def test_slack_signature() -> None:
    secret = "slack-signing"
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{NOW}:".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Signature": sig, "X-Slack-Request-Timestamp": str(NOW)}
    assert verify(WebhookScheme.SLACK, headers, BODY, [secret])[0]
    assert not verify(WebhookScheme.SLACK, headers, BODY, ["other"])[0]


def test_no_secret_no_verification() -> None:
    assert "no secret" in verify(WebhookScheme.STANDARD, standard_headers(), BODY, [])[1]


@pytest.mark.parametrize("key", [b"k" * 32, b"k" * 31, b"k" * 24, b"k" * 25])
def test_a_whsec_secret_without_base64_padding_verifies_like_the_padded_one(key: bytes) -> None:
    padded = base64.b64encode(key).decode()
    content = b"msg_1." + str(NOW).encode() + b"." + BODY
    # Signed the way every sender signs: with the decoded key, independently of this SDK.
    signature = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    for secret in (f"whsec_{padded}", f"whsec_{padded.rstrip('=')}", padded.rstrip("=")):
        assert verify(WebhookScheme.STANDARD, headers, BODY, [secret]) == (True, ""), secret
    unpadded_signature = {**headers, "webhook-signature": signature.rstrip("=")}
    assert verify(WebhookScheme.STANDARD, unpadded_signature, BODY, [f"whsec_{padded.rstrip('=')}"])[0]
