"""Sealing secrets at rest: AES-256-GCM under a key ring kept outside the database.

A key ring holds one *primary* key, which seals, and any number of older keys, which still
open what they sealed. Rotating is: add a new key as primary, re-seal (see
``CredentialService.rotate``), then retire the old key. Values sealed under an old key keep
opening while that happens, so executions in flight never see a missing secret.

Every sealed value is bound to its *context* (associated data, e.g.
``credential:<workspace>:<name>``): a ciphertext copied onto another row fails to open.

Where the keys come from, first match wins:

- ``SYNTHRAL_SECRET_KEYS``: ``id:base64key,id:base64key`` (the first is primary);
- ``SYNTHRAL_SECRET_KEY``: one base64 key (its id is derived from it);
- ``SYNTHRAL_SECRET_KEY_FILE``, else ``$SYNTHRAL_HOME/secret.key``: one ``id base64key``
  per line, the first primary. With neither variable set and no file, the file is created
  (mode 0600) with a fresh key, so a desktop install works without setup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synthral.config import SecuritySettings

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from synthral.errors import DecryptionFailed, SecretKeyMissing
from synthral.security.files import private_dir

__all__ = ["KEY_BYTES", "KeyRing", "Sealed", "generate_key", "key_id_of"]

KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class Sealed:
    """A sealed value: which key sealed it, the nonce, and ciphertext with its tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def generate_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def key_id_of(key: bytes) -> str:
    """A short public id for a key (a hash of it; reveals nothing usable)."""
    return hashlib.sha256(b"synthral-key-id:" + key).hexdigest()[:16]


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretKeyMissing(
            f"the secret key in {where} is not valid base64; generate one with "
            "`python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'`"
        ) from exc
    if len(key) != KEY_BYTES:
        raise SecretKeyMissing(
            f"the secret key in {where} is {len(key)} bytes; AES-256-GCM needs {KEY_BYTES} (base64 of 32 random bytes)"
        )
    return key


class KeyRing:
    """Seals with the primary key; opens with any key of the ring.

    Args:
        keys: key id → 32-byte key; at least one.
        primary: The id of the key that seals.
    """

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise SecretKeyMissing(f"the primary key {primary!r} is not in the key ring")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.primary = primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id the ring can open, primary first."""
        return (self.primary, *(k for k in self._ciphers if k != self.primary))

    @classmethod
    def single(cls, key: bytes) -> KeyRing:
        """A ring of one key."""
        key_id = key_id_of(key)
        return cls({key_id: key}, key_id)

    @classmethod
    def configured(cls, home: Path, security: SecuritySettings) -> KeyRing:
        """The ring the settings configure (see the module's documentation)."""
        if security.secret_keys is not None:
            listed = security.secret_keys.get_secret_value()
            return cls._parse(
                [item.replace(":", " ", 1) for item in listed.split(",") if item.strip()], "SYNTHRAL_SECRET_KEYS"
            )
        if security.secret_key is not None:
            return cls.single(_decode_key(security.secret_key.get_secret_value(), "SYNTHRAL_SECRET_KEY"))
        path = security.secret_key_file or home / "secret.key"
        if not path.exists():
            if security.secret_key_file is not None:
                raise SecretKeyMissing(
                    f"SYNTHRAL_SECRET_KEY_FILE names {path}, which does not exist; create it with a line "
                    "'<id> <base64 key>' or unset the variable"
                )
            cls.create_file(path)
        return cls._parse(path.read_text().splitlines(), str(path))

    @staticmethod
    def create_file(path: Path) -> bool:
        """Write a key file with one fresh key, readable by its owner only.

        The key is written to a private temporary file first and linked into place, so a
        process starting beside this one sees either no file or a whole key, never an empty
        one. False when another process made the file first: its key is the one to use.
        """
        key = generate_key()
        private_dir(path.parent)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(f"{key_id_of(key)} {base64.b64encode(key).decode()}\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
        finally:
            os.unlink(temporary)
        return True

    @classmethod
    def _parse(cls, lines: list[str], where: str) -> KeyRing:
        keys: dict[str, bytes] = {}
        for line in lines:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            key_id, _, encoded = text.partition(" ")
            if not encoded:
                key_id, encoded = "", key_id
            key = _decode_key(encoded, where)
            keys[key_id.strip() or key_id_of(key)] = key
        if not keys:
            raise SecretKeyMissing(f"{where} holds no key; add a line '<id> <base64 key>'")
        return cls(keys, next(iter(keys)))

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        """Encrypt and authenticate ``plaintext``, bound to ``context``, with the primary key."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._ciphers[self.primary].encrypt(nonce, plaintext, context.encode())
        return Sealed(self.primary, nonce, ciphertext)

    def open(self, sealed: Sealed, context: str) -> bytes:
        """Decrypt ``sealed``.

        Raises:
            SecretKeyMissing: Its key is not in the ring (retired too early).
            DecryptionFailed: It was altered, or sealed for another context.
        """
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise SecretKeyMissing(
                f"a secret was sealed with key {sealed.key_id!r}, which is not configured; add it back to "
                "SYNTHRAL_SECRET_KEYS (or the key file) as a non-primary key and rotate before retiring it",
                details={"key_id": sealed.key_id},
            )
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, context.encode())
        except InvalidTag as exc:
            raise DecryptionFailed(
                "a sealed secret failed authentication: it was altered or copied from another record",
                details={"key_id": sealed.key_id},
            ) from exc
