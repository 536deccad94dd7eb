"""Signed plugin wheels: a detached signature by a trusted key, checked before anything is installed."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from synthral.config import SupplyChainSettings
from synthral.errors import InstallError
from synthral.plugins.host import PluginHost
from synthral.plugins.signatures import signature_path, verify_wheel
from synthral.plugins.trust_settings import SignaturePolicy
from tests.conftest import GRANT_ALL, make_settings

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _trust(key: PrivateKey, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (folder / f"{name}.pem").write_bytes(pem)
    return folder


@pytest.fixture
def wheel(tmp_path: Path, fixture_wheels: dict[str, Path]) -> Path:
    copy = tmp_path / "wheels" / fixture_wheels["noop"].name
    copy.parent.mkdir()
    shutil.copy(fixture_wheels["noop"], copy)
    return copy


@pytest.mark.parametrize(
    "key",
    [
        ed25519.Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(65537, 2048),
    ],
    ids=["ed25519", "ecdsa-p256", "rsa"],
)
def test_a_signature_by_a_trusted_key_verifies_raw_or_base64(key: PrivateKey, wheel: Path, tmp_path: Path) -> None:
    keys = _trust(key, tmp_path / "keys", "release")
    settings = SupplyChainSettings(signatures=SignaturePolicy.KEYS, trusted_keys=(keys,))
    signature = _sign(key, wheel.read_bytes())
    for form in (signature, base64.b64encode(signature) + b"\n"):
        signature_path(wheel).write_bytes(form)
        recorded = verify_wheel(wheel, settings, kind="wheel")
        assert recorded["signature"].startswith("verified by release.pem (sha256:")


def test_a_changed_wheel_or_a_strangers_key_is_refused(wheel: Path, tmp_path: Path) -> None:
    trusted, stranger = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    settings = SupplyChainSettings(
        signatures=SignaturePolicy.KEYS, trusted_keys=(_trust(trusted, tmp_path / "k", "a"),)
    )
    signature_path(wheel).write_bytes(_sign(stranger, wheel.read_bytes()))
    with pytest.raises(InstallError, match="does not verify with any trusted key"):
        verify_wheel(wheel, settings, kind="wheel")
    signature_path(wheel).write_bytes(_sign(trusted, wheel.read_bytes() + b"tampered"))
    with pytest.raises(InstallError, match="changed after signing"):
        verify_wheel(wheel, settings, kind="wheel")
    # Without the requirement a signature that is present is still checked.
    with pytest.raises(InstallError, match="does not verify"):
        verify_wheel(wheel, settings.model_copy(update={"signatures": SignaturePolicy.NONE}), kind="wheel")


def test_what_cannot_be_checked_is_refused_when_signatures_are_required(wheel: Path, tmp_path: Path) -> None:
    keys = _trust(ed25519.Ed25519PrivateKey.generate(), tmp_path / "k", "a")
    required = SupplyChainSettings(signatures=SignaturePolicy.KEYS, trusted_keys=(keys,))
    with pytest.raises(InstallError, match=r"\.sig is missing"):
        verify_wheel(wheel, required, kind="wheel")
    for kind in ("folder", "index"):
        with pytest.raises(InstallError, match=f"a {kind} install has no signature"):
            verify_wheel(None, required, kind=kind)
    signature_path(wheel).write_bytes(b"x" * 64)
    with pytest.raises(InstallError, match="no trusted key is set"):
        verify_wheel(wheel, required.model_copy(update={"trusted_keys": ()}), kind="wheel")
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(InstallError, match="is not a PEM public key"):
        verify_wheel(wheel, required.model_copy(update={"trusted_keys": (tmp_path / "bad.pem",)}), kind="wheel")
    with pytest.raises(InstallError, match="does not exist"):
        verify_wheel(wheel, required.model_copy(update={"trusted_keys": (tmp_path / "nowhere",)}), kind="wheel")
    assert verify_wheel(None, SupplyChainSettings(), kind="index") == {}


@pytest.mark.slow
async def test_install_requires_a_signed_wheel_and_records_who_signed_it(
    wheel: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    supply = SupplyChainSettings(signatures=SignaturePolicy.KEYS, trusted_keys=(_trust(key, tmp_path / "k", "ops"),))
    plugins = PluginHost(make_settings(tmp_path / "home", wheelhouse).replace(supply=supply))
    try:
        with pytest.raises(InstallError, match="missing"):
            await plugins.install(str(wheel), grant=GRANT_ALL)
        assert not (tmp_path / "home" / "plugins" / "noop").exists()  # nothing was installed
        signature_path(wheel).write_bytes(_sign(key, wheel.read_bytes()))
        manifest = await plugins.install(str(wheel), grant=GRANT_ALL)
        assert manifest.provenance["signature"].startswith("verified by ops.pem")  # type: ignore[union-attr]
        assert manifest.provenance["sha256"] == manifest.wheel_sha256
    finally:
        await plugins.close()
