"""Time-based one-time passwords (RFC 6238) for two-factor sign-in.

Codes are HOTP (RFC 4226) over 30-second time steps: HMAC-SHA-1, 6 digits, which is what
authenticator apps expect. A code of the step before or after the current one is accepted
too (clock drift). A caller passes the last step it accepted so that a code, once used,
is refused for the rest of its window (replay).

:class:`TotpState` (the seed and that last step) is kept sealed with the key ring, as
``version (1 byte) | key id length (1 byte) | key id | nonce (12 bytes) | ciphertext``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlencode

from synthral.errors import DecryptionFailed, InputInvalid
from synthral.security.crypto import NONCE_BYTES, KeyRing, Sealed

__all__ = [
    "DIGITS",
    "STEP_SECONDS",
    "WINDOW",
    "TotpState",
    "decode_secret",
    "generate_secret",
    "hotp",
    "match_step",
    "provisioning_uri",
    "time_step",
    "totp",
]

DIGITS: Final = 6
STEP_SECONDS: Final = 30
WINDOW: Final = 1
SECRET_BYTES: Final = 20
STATE_VERSION: Final = 1
ALGORITHMS: Final = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def generate_secret() -> str:
    """A new random seed (160 bits, as RFC 4226 recommends), in unpadded base32."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def decode_secret(secret: str) -> bytes:
    """The seed bytes of a base32 secret (spaces, case and missing padding tolerated).

    Raises:
        InputInvalid: The secret is not base32.
    """
    text = secret.replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise InputInvalid(
            "the TOTP secret is not base32 (letters A-Z and digits 2-7); copy it again from the setup page"
        ) from exc


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """The RFC 4226 one-time password of ``key`` at ``counter``, zero-padded to ``digits``."""
    digest = hmac.new(key, counter.to_bytes(8, "big"), ALGORITHMS[algorithm]).digest()
    offset = digest[-1] & 0x0F
    binary = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(at: float | None = None, *, step_seconds: int = STEP_SECONDS) -> int:
    """The RFC 6238 time step counter at Unix time ``at`` (now by default)."""
    return int((time.time() if at is None else at) // step_seconds)


def totp(
    key: bytes,
    at: float | None = None,
    *,
    digits: int = DIGITS,
    algorithm: str = "sha1",
    step_seconds: int = STEP_SECONDS,
) -> str:
    """The RFC 6238 code of ``key`` at Unix time ``at`` (now by default)."""
    return hotp(key, time_step(at, step_seconds=step_seconds), digits=digits, algorithm=algorithm)


def match_step(
    key: bytes, code: str, *, at: float | None = None, window: int = WINDOW, after_step: int | None = None
) -> int | None:
    """The time step whose code ``code`` is, or None when it matches none.

    Steps from ``window`` before to ``window`` after the current one are tried, except those
    at or before ``after_step`` (the last step already accepted): a code is good once. Every
    candidate is compared in constant time.
    """
    candidate = code.replace(" ", "")
    if len(candidate) != DIGITS or not candidate.isascii() or not candidate.isdigit():
        return None
    current = time_step(at)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        equal = hmac.compare_digest(hotp(key, step), candidate)
        if equal and matched is None and (after_step is None or step > after_step):
            matched = step
    return matched


def provisioning_uri(secret: str, account: str, *, issuer: str = "SynthralOS") -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually from a QR code)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_SECONDS},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


@dataclass(frozen=True)
class TotpState:
    """A user's TOTP seed (base32) and the last time step a code was accepted for."""

    secret: str = field(repr=False)
    last_step: int | None = None

    def seal(self, keyring: KeyRing, context: str) -> bytes:
        """The state sealed with the ring's primary key, bound to ``context``, as one value."""
        sealed = keyring.seal(json.dumps({"secret": self.secret, "last_step": self.last_step}).encode(), context)
        key_id = sealed.key_id.encode()
        return bytes([STATE_VERSION, len(key_id)]) + key_id + sealed.nonce + sealed.ciphertext

    @classmethod
    def open(cls, blob: bytes, keyring: KeyRing, context: str) -> TotpState:
        """The state sealed in ``blob`` for ``context``.

        Raises:
            DecryptionFailed: The value is damaged, altered or sealed for another context.
            SecretKeyMissing: Its key is no longer in the ring.
        """
        key_end = 2 + blob[1] if len(blob) > 1 else 0
        if not key_end or blob[0] != STATE_VERSION or len(blob) <= key_end + NONCE_BYTES:
            raise DecryptionFailed(
                "the stored two-factor state is damaged; an administrator must reset two-factor for this account"
            )
        nonce_end = key_end + NONCE_BYTES
        sealed = Sealed(blob[2:key_end].decode(errors="replace"), blob[key_end:nonce_end], blob[nonce_end:])
        data = json.loads(keyring.open(sealed, context))
        return cls(str(data["secret"]), data["last_step"])
