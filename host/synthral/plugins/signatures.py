"""Signed plugin wheels: a detached signature beside the wheel, by one of the operator's keys.

(Sigstore bundles, the keyless kind, are checked by :mod:`synthral.plugins.sigstore_bundles`;
:func:`verify_wheel` applies both.)

A signature is ``<wheel>.sig`` next to the wheel file: the raw signature bytes (or their
base64) over the whole wheel file, made with OpenSSL::

    openssl pkeyutl -sign -rawin -inkey ed25519.pem -in X.whl -out X.whl.sig     # Ed25519
    openssl dgst -sha256 -sign ecdsa-p256.pem -out X.whl.sig X.whl              # ECDSA P-256
    openssl dgst -sha256 -sign rsa.pem -out X.whl.sig X.whl                     # RSA (PKCS#1 v1.5)

The operator lists the public keys (PEM) in ``SYNTHRAL_PLUGIN_TRUSTED_KEYS``. With
``SYNTHRAL_PLUGIN_SIGNATURES=keys`` a wheel is installed only with a valid signature by one of
them; with ``none`` (the default) a signature that is present is still checked, and a bad one
refuses the install. The key that verified it is recorded in the manifest's provenance.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from synthral.config import SupplyChainSettings
from synthral.errors import InstallError
from synthral.plugins.sigstore_bundles import bundle_path, verify_bundle
from synthral.plugins.trust_settings import SignaturePolicy

__all__ = ["TrustedKey", "load_trusted_keys", "signature_path", "verify_wheel"]

_MAX_SIGNATURE = 16 * 1024


@dataclass(frozen=True)
class TrustedKey:
    """A public key the operator trusts, and the SHA-256 fingerprint of its DER form."""

    fingerprint: str
    source: str
    key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def signature_path(wheel: Path) -> Path:
    """Where the signature of ``wheel`` is looked for."""
    return wheel.with_name(wheel.name + ".sig")


def load_trusted_keys(paths: tuple[Path, ...]) -> list[TrustedKey]:
    """Every PEM public key in ``paths`` (files, or folders of ``*.pem``).

    Raises:
        InstallError: A path is missing or holds something that is not a supported public key.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.pem"))
        elif path.is_file():
            files.append(path)
        else:
            raise InstallError(
                f"SYNTHRAL_PLUGIN_TRUSTED_KEYS names {str(path)!r}, which does not exist; fix the setting",
                details={"path": str(path)},
            )
    keys: list[TrustedKey] = []
    for file in files:
        try:
            key = serialization.load_pem_public_key(file.read_bytes())
        except (ValueError, TypeError):
            raise InstallError(
                f"{file} is not a PEM public key; export one with 'openssl pkey -pubout -in KEY -out {file.name}'",
                details={"path": str(file)},
            ) from None
        if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise InstallError(
                f"{file} holds a {type(key).__name__}; trusted keys are Ed25519, ECDSA P-256 or RSA",
                details={"path": str(file)},
            )
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        keys.append(TrustedKey(f"sha256:{hashlib.sha256(der).hexdigest()}", file.name, key))
    return keys


def _read_signature(path: Path) -> bytes:
    raw = path.read_bytes()[: _MAX_SIGNATURE + 1]
    if len(raw) > _MAX_SIGNATURE:
        raise InstallError(f"{path.name} is larger than any signature; it is not one", details={"file": path.name})
    try:
        return base64.b64decode(raw.strip(), validate=True) if raw.strip().isascii() else raw
    except (binascii.Error, ValueError):
        return raw


def _verifies(key: TrustedKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key.key, ed25519.Ed25519PublicKey):
            key.key.verify(signature, data)
        elif isinstance(key.key, ec.EllipticCurvePublicKey):
            key.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify_wheel(wheel: Path | None, settings: SupplyChainSettings, *, kind: str) -> dict[str, str]:
    """Check the signatures of what is being installed; return what the provenance records.

    A Sigstore bundle beside the wheel (:mod:`synthral.plugins.sigstore_bundles`) and a key
    signature (``.sig``) are each checked when present; the policy says which one must be.

    Args:
        wheel: The wheel file given to the install; ``None`` for a folder or an index pin.
        settings: The operator's supply-chain settings.
        kind: The source's kind (``wheel``, ``folder``, ``index``), for the messages.

    Raises:
        InstallError: Signatures are required and this source has none, a signature does not
            verify (with any trusted key, or by a trusted Sigstore identity), or the keys
            cannot be read.
    """
    policy = settings.signatures
    if wheel is None:
        if policy is not SignaturePolicy.NONE:
            beside = ".sig" if policy is SignaturePolicy.KEYS else ".sigstore.json"
            raise InstallError(
                f"signed wheels are required (SYNTHRAL_PLUGIN_SIGNATURES={policy.value}) and a {kind} install has no "
                f"signature to check; install the signed wheel file, with its {beside} beside it",
                details={"kind": kind},
            )
        return {}
    recorded: dict[str, str] = {}
    bundle = bundle_path(wheel)
    if bundle is not None:
        recorded["sigstore"] = verify_bundle(
            wheel, bundle, settings.sigstore_identities, settings.sigstore_trusted_root
        )
    elif policy is SignaturePolicy.SIGSTORE:
        raise InstallError(
            f"Sigstore-signed wheels are required (SYNTHRAL_PLUGIN_SIGNATURES=sigstore) and {wheel.name}.sigstore.json "
            "is missing; put the bundle the release made beside the wheel (see docs/plugin-security.md)",
            details={"file": wheel.name},
        )
    recorded.update(_key_signature(wheel, settings, required=policy is SignaturePolicy.KEYS))
    return recorded


def _key_signature(wheel: Path, settings: SupplyChainSettings, *, required: bool) -> dict[str, str]:
    """The ``.sig`` beside ``wheel``, checked against the trusted keys (required or when present)."""
    sig = signature_path(wheel)
    if not sig.is_file():
        if required:
            raise InstallError(
                f"signed wheels are required and {sig.name} is missing; put the wheel's signature beside it "
                "(see docs/plugin-security.md)",
                details={"file": wheel.name},
            )
        return {}
    keys = load_trusted_keys(settings.trusted_keys)
    if not keys:
        if required:
            raise InstallError(
                "signed wheels are required but no trusted key is set; list PEM public keys in "
                "SYNTHRAL_PLUGIN_TRUSTED_KEYS",
            )
        return {"signature": "present, not checked (no trusted keys are set)"}
    signature = _read_signature(sig)
    data = wheel.read_bytes()
    for key in keys:
        if _verifies(key, signature, data):
            return {"signature": f"verified by {key.source} ({key.fingerprint})"}
    raise InstallError(
        f"the signature {sig.name} does not verify with any trusted key: the wheel was changed after signing or "
        "was signed by someone else. Nothing was installed",
        details={"file": wheel.name, "trustedKeys": [key.fingerprint for key in keys]},
    )
