"""A browser session's storage state (cookies, local storage), sealed at rest.

A browser plugin returns the state as a blob. The host seals its bytes with the credential
key ring (AES-GCM, bound to the session's id, so a state copied to another session does not
open), keeps the sealed form in the session's row and deletes the plaintext blob. For the
session's next step it opens the state into a blob for just that call and deletes it after.
A state with no cookie and no stored origin holds nothing secret: its blob is left alone,
since another session's empty state is the same blob.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from synthral.errors import InputInvalid
from synthral.security.crypto import KeyRing, Sealed
from synthral_sdk.blobs import BlobStore
from synthral_sdk.types import BlobRef

__all__ = ["StateVault"]

SEALED_KEY = "sealed"


def _context(session_id: str) -> str:
    return f"browser-session:{session_id}"


def _holds_secrets(data: bytes) -> bool:
    try:
        state = json.loads(data)
    except ValueError:
        return True  # not a state the host understands: treat it as secret
    return not isinstance(state, dict) or bool(state.get("cookies") or state.get("origins"))


class StateVault:
    """Seals storage states into session rows and opens them into blobs for one call.

    Args:
        keyring: The credential key ring (the primary key seals; older keys still open).
        blobs: The host's blob store the browser plugins read and write.
        delete: Deletes a blob everywhere it can be read (the store and the sandboxes' views of
            it: :meth:`synthral.plugins.host.PluginHost.delete_blob`); the store's own delete
            when None.
    """

    def __init__(self, keyring: KeyRing, blobs: BlobStore, delete: Callable[[BlobRef], None] | None = None) -> None:
        self.keyring = keyring
        self.blobs = blobs
        self._delete = delete or blobs.delete

    def seal(self, session_id: str, ref: Any) -> dict[str, Any]:
        """The sealed form of the state blob ``ref`` for the session's row; the plaintext blob is deleted.

        Raises:
            InputInvalid: ``ref`` is not a blob reference of the store.
        """
        blob = _ref(ref)
        data = self.blobs.get(blob)
        sealed = self.keyring.seal(data, _context(session_id))
        if _holds_secrets(data):
            self._delete(blob)
        return {
            SEALED_KEY: {
                "key_id": sealed.key_id,
                "nonce": base64.b64encode(sealed.nonce).decode(),
                "ciphertext": base64.b64encode(sealed.ciphertext).decode(),
                "media_type": blob.media_type,
            }
        }

    def open(self, session_id: str, state: dict[str, Any]) -> BlobRef:
        """The session's state as a blob for one call (:meth:`discard` it after).

        A state kept before states were sealed is a blob reference already: it is handed on,
        and sealed after the call like any other.

        Raises:
            SecretKeyMissing: The key that sealed it has been retired.
            DecryptionFailed: The sealed state was altered or belongs to another session.
        """
        sealed = state.get(SEALED_KEY)
        if not isinstance(sealed, dict):
            return _ref(state)
        data = self.keyring.open(
            Sealed(str(sealed["key_id"]), base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"])),
            _context(session_id),
        )
        return self.blobs.put(data, media_type=str(sealed.get("media_type") or "application/json"))

    def discard(self, ref: BlobRef) -> None:
        """Delete the plaintext blob :meth:`open` made, unless it holds nothing secret."""
        if self.blobs.exists(ref) and _holds_secrets(self.blobs.get(ref)):
            self._delete(ref)


def _ref(value: Any) -> BlobRef:
    try:
        return BlobRef.model_validate(value)
    except ValueError:
        raise InputInvalid(
            "the browser plugin returned a storage_state that is not a blob reference; "
            "the plugin must write the state to the blob store and return its reference",
            details={"field": "storage_state"},
        ) from None
