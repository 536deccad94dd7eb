"""Sigstore bundles beside plugin files: keyless signatures by a named identity, checked offline.

A project that releases from CI signs its wheel with Sigstore (``sigstore sign``, the
``gh-action-sigstore-python`` action, or PyPI's publish attestations): a short-lived
certificate for the workflow's or the person's identity, and an entry in Sigstore's public
transparency log. The bundle (``<file>.sigstore.json``, or ``<file>.sigstore``) holds the
signature, the certificate and the log's proof. Two shapes are taken:

- a message signature over the file's bytes (``sigstore sign X.whl``);
- a DSSE envelope holding an in-toto statement whose subject is the file's name and SHA-256
  (PEP 740 attestations, ``sigstore attest``).

The check needs no network: the certificate chain, the log's signed entry and the
timestamps are verified against Sigstore's trusted root, the one sigstore-python ships or
one the operator names (``SYNTHRAL_PLUGIN_SIGSTORE_TRUSTED_ROOT``: a newer one after Sigstore
rotates a key, or a private Sigstore's). Then the certificate's identity must be one the
operator trusts (``SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES``): a signature by anybody else proves
nothing, as anybody may sign anything with Sigstore.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from synthral.errors import InstallError

__all__ = ["MAX_BUNDLE", "SigstoreIdentity", "bundle_path", "verify_bundle"]

MAX_BUNDLE: Final = 1024 * 1024
_ISSUER_V2: Final = "1.3.6.1.4.1.57264.1.8"
"""Fulcio's issuer extension (a DER UTF8String)."""
BUNDLE_SUFFIXES: Final = (".sigstore.json", ".sigstore")
IN_TOTO: Final = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class SigstoreIdentity:
    """Who may sign: the certificate's subject and the OpenID Connect issuer that vouched for it.

    Attributes:
        identity: An e-mail address, or a CI workflow's URI such as
            ``https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.0``.
        issuer: E.g. ``https://token.actions.githubusercontent.com`` or
            ``https://github.com/login/oauth``.
    """

    identity: str
    issuer: str


def bundle_path(artifact: Path) -> Path | None:
    """The Sigstore bundle beside ``artifact``, if there is one."""
    for suffix in BUNDLE_SUFFIXES:
        candidate = artifact.with_name(artifact.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def verify_bundle(
    artifact: Path, bundle: Path, identities: Sequence[SigstoreIdentity], trusted_root: Path | None = None
) -> str:
    """Check that ``bundle`` signs ``artifact`` and was made by one of ``identities``.

    Args:
        artifact: The wheel (or other file) being installed.
        bundle: Its Sigstore bundle.
        identities: Whom the operator trusts to sign plugins.
        trusted_root: Sigstore's trusted root (JSON); the production root sigstore-python
            ships when None.

    Returns:
        What the provenance records: the identity, its issuer and the log index.

    Raises:
        InstallError: No identity is trusted, the bundle is not one, it does not verify
            (altered file, another file's bundle, a certificate not from Sigstore, a log
            entry that does not match), or the signer is not trusted.
    """
    from sigstore.errors import Error as SigstoreError  # noqa: PLC0415 -- loaded only when a bundle is checked
    from sigstore.models import Bundle, InvalidBundle, TrustedRoot  # noqa: PLC0415
    from sigstore.verify import Verifier, policy  # noqa: PLC0415

    if not identities:
        raise InstallError(
            f"{bundle.name} is a Sigstore bundle, but no signer is trusted; name who may sign plugins in "
            "SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES (identity and issuer), see docs/plugin-security.md",
            details={"file": artifact.name},
        )
    raw = _read(bundle)
    try:
        parsed = Bundle.from_json(raw)
    except (InvalidBundle, ValueError) as exc:
        raise InstallError(
            f"{bundle.name} is not a Sigstore bundle ({exc}); put the bundle 'sigstore sign' or the release "
            "workflow made beside the file, or remove it",
            details={"file": bundle.name},
        ) from None
    root = trusted_root or _shipped_root()
    try:
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root)))
    except (SigstoreError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InstallError(
            f"Sigstore's trusted root {root} cannot be read ({first}); point SYNTHRAL_PLUGIN_SIGSTORE_TRUSTED_ROOT at "
            "a trusted_root.json (as 'sigstore' or TUF fetch it), or unset it to use the one shipped",
            details={"trustedRoot": str(root)},
        ) from None
    trusted = policy.AnyOf([_Signer(who) for who in identities])
    data = artifact.read_bytes()
    signer = _signer(parsed)
    try:
        if _is_dsse(raw):
            payload_type, payload = verifier.verify_dsse(parsed, trusted)
            _check_subject(artifact, data, payload_type, payload, bundle)
        else:
            verifier.verify_artifact(data, parsed, trusted)
    except SigstoreError as exc:
        known = f" It was signed by {signer}." if signer else ""
        raise InstallError(
            f"the Sigstore bundle {bundle.name} does not verify for {artifact.name}: {exc}.{known} Install a file "
            "with a bundle by a trusted signer, or trust that signer in SYNTHRAL_PLUGIN_SIGSTORE_IDENTITIES. "
            "Nothing was installed",
            details={"file": artifact.name, "signer": signer, "trusted": [w.identity for w in identities]},
        ) from None
    index = _log_index(raw)
    return f"Sigstore: signed by {signer}" + (f", transparency log index {index}" if index is not None else "")


def _read(bundle: Path) -> bytes:
    if bundle.stat().st_size > MAX_BUNDLE:
        raise InstallError(
            f"{bundle.name} is larger than {MAX_BUNDLE // 1024} KiB: not a Sigstore bundle",
            details={"file": bundle.name},
        )
    return bundle.read_bytes()


def _shipped_root() -> Path:
    """Sigstore's production trusted root as sigstore-python ships it."""
    store = importlib.resources.files("sigstore") / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    return Path(str(store / "trusted_root.json"))


def _log_index(raw: bytes) -> int | None:
    """The transparency log index of the bundle's entry, for the provenance."""
    try:
        entries = json.loads(raw)["verificationMaterial"]["tlogEntries"]
        return int(entries[0]["logIndex"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _is_dsse(raw: bytes) -> bool:
    try:
        document = json.loads(raw)
    except ValueError:
        return False
    return isinstance(document, dict) and "dsseEnvelope" in document


def _signer(bundle: Any) -> str | None:
    """The identity and issuer in the bundle's certificate, for the messages."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.x509.oid import ObjectIdentifier  # noqa: PLC0415

    try:
        certificate = bundle.signing_certificate
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identity = next(iter([str(name.value) for name in names]), None)
        issuer = _issuer(certificate.extensions.get_extension_for_oid(ObjectIdentifier(_ISSUER_V2)).value.value)
    except (x509.ExtensionNotFound, AttributeError, ValueError):
        return None
    return f"{identity} ({issuer})" if identity else None


def _issuer(der: bytes) -> str:
    """The issuer URL in Fulcio's extension: a DER UTF8String (tag 0x0c, a length, the text)."""
    if len(der) < 2 or der[0] != 0x0C:
        return der.decode(errors="replace")
    length, start = der[1], 2
    if length & 0x80:  # a long form length
        count = length & 0x7F
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    return der[start : start + length].decode(errors="replace")


def _check_subject(artifact: Path, data: bytes, payload_type: str, payload: bytes, bundle: Path) -> None:
    """An attestation must name this very file: its SHA-256 among the statement's subjects."""
    if payload_type != IN_TOTO:
        raise InstallError(
            f"{bundle.name} signs a {payload_type!r} payload, not an in-toto statement about {artifact.name}",
            details={"file": artifact.name},
        )
    try:
        statement = json.loads(payload)
        subjects = statement["subject"]
        digests = {str(s["digest"]["sha256"]).lower(): str(s.get("name", "")) for s in subjects}
    except (ValueError, KeyError, TypeError):
        raise InstallError(
            f"{bundle.name} holds an in-toto statement without subjects; it attests nothing about {artifact.name}",
            details={"file": artifact.name},
        ) from None
    ours = hashlib.sha256(data).hexdigest()
    if ours not in digests:
        named = ", ".join(f"{name or '?'} (sha256 {digest[:12]}…)" for digest, name in digests.items())
        raise InstallError(
            f"the Sigstore bundle {bundle.name} attests {named}, not this {artifact.name} (sha256 {ours[:12]}…): "
            "the file was changed after signing, or the bundle belongs to another file. Nothing was installed",
            details={"file": artifact.name, "sha256": ours, "attested": list(digests)},
        )


class _Signer:
    """A sigstore verification policy: the certificate names ``who`` (a trailing ``*``: any suffix)."""

    def __init__(self, who: SigstoreIdentity) -> None:
        self.who = who

    def verify(self, cert: Any) -> None:
        """Raise sigstore's VerificationError unless ``cert`` is for this identity and issuer."""
        from cryptography import x509  # noqa: PLC0415
        from cryptography.x509.oid import ObjectIdentifier  # noqa: PLC0415
        from sigstore.errors import VerificationError  # noqa: PLC0415

        try:
            names = [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
            issuer = _issuer(cert.extensions.get_extension_for_oid(ObjectIdentifier(_ISSUER_V2)).value.value)
        except x509.ExtensionNotFound:
            raise VerificationError("the certificate names no identity or no issuer") from None
        pattern = self.who.identity
        match = any(n.startswith(pattern[:-1]) if pattern.endswith("*") else n == pattern for n in names)
        if not match or issuer != self.who.issuer:
            raise VerificationError(f"the certificate is for {', '.join(names)} ({issuer}), not {pattern}")
