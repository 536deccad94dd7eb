"""Sigstore bundles beside plugin files: a real production bundle, verified with no network."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from synthral.config import SupplyChainSettings
from synthral.errors import ConfigurationError, InstallError
from synthral.plugins.host import PluginHost
from synthral.plugins.signatures import verify_wheel
from synthral.plugins.sigstore_bundles import SigstoreIdentity, bundle_path, verify_bundle
from synthral.plugins.trust_settings import SignaturePolicy
from tests.conftest import GRANT_ALL, REPO, make_settings

FIXTURES = REPO / "tests" / "fixtures" / "sigstore"
ARTIFACT = "pypi_attestation_models-0.0.4a2.tar.gz"
WORKFLOW = "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml"
ACTIONS = "https://token.actions.githubusercontent.com"
RELEASE = SigstoreIdentity(f"{WORKFLOW}@refs/tags/v0.0.4a2", ACTIONS)


@pytest.fixture
def signed(tmp_path: Path) -> Path:
    """A copy of the signed file with its bundle beside it."""
    for name in (ARTIFACT, f"{ARTIFACT}.sigstore"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path / ARTIFACT


def test_a_real_bundle_verifies_offline_for_the_release_workflow_or_any_of_its_tags(signed: Path) -> None:
    bundle = bundle_path(signed)
    assert bundle is not None and bundle.name == f"{ARTIFACT}.sigstore"
    for trusted in (RELEASE, SigstoreIdentity(f"{WORKFLOW}@refs/tags/*", ACTIONS)):
        recorded = verify_bundle(signed, bundle, [SigstoreIdentity("someone@example.com", ACTIONS), trusted])
        assert recorded.startswith(f"Sigstore: signed by {WORKFLOW}@refs/tags/v0.0.4a2 ({ACTIONS})")
        assert "transparency log index" in recorded


def test_a_signer_not_trusted_is_refused_and_named(signed: Path) -> None:
    bundle = bundle_path(signed)
    assert bundle is not None
    others = [
        SigstoreIdentity("https://github.com/acme/plugin/.github/workflows/release.yml@refs/tags/*", ACTIONS),
        SigstoreIdentity(RELEASE.identity, "https://gitlab.com"),  # the right name from another issuer
        SigstoreIdentity(f"{WORKFLOW}@refs/heads/*", ACTIONS),  # a branch, not a tag
    ]
    for other in others:
        with pytest.raises(InstallError, match=f"does not verify.*It was signed by {WORKFLOW}@refs/tags/v0.0.4a2"):
            verify_bundle(signed, bundle, [other])
    with pytest.raises(InstallError, match="no signer is trusted; name who may sign plugins in SYNTHRAL_PLUGIN_SIG"):
        verify_bundle(signed, bundle, [])


def test_a_changed_file_or_another_files_bundle_is_refused(signed: Path, tmp_path: Path) -> None:
    bundle = bundle_path(signed)
    assert bundle is not None
    changed = tmp_path / "changed" / ARTIFACT
    changed.parent.mkdir()
    changed.write_bytes(signed.read_bytes() + b"\0")
    with pytest.raises(InstallError, match=rf"attests {ARTIFACT} \(sha256 c9709ce6fd5b…\), not this"):
        verify_bundle(changed, bundle, [RELEASE])


def test_an_altered_bundle_or_one_that_is_not_a_bundle_is_refused(signed: Path) -> None:
    bundle = bundle_path(signed)
    assert bundle is not None
    document = json.loads(bundle.read_text())
    signature = bytearray(base64.b64decode(document["dsseEnvelope"]["signatures"][0]["sig"]))
    signature[-1] ^= 1
    document["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    bundle.write_text(json.dumps(document))
    with pytest.raises(InstallError, match="does not verify"):
        verify_bundle(signed, bundle, [RELEASE])
    bundle.write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    with pytest.raises(InstallError, match="is not a Sigstore bundle"):
        verify_bundle(signed, bundle, [RELEASE])


def test_the_trusted_root_decides_and_an_unreadable_one_is_named(signed: Path, tmp_path: Path) -> None:
    import sigstore  # the staging instance's root ships beside production's

    bundle = bundle_path(signed)
    assert bundle is not None
    staging = (
        Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev" / "trusted_root.json"
    )
    with pytest.raises(InstallError, match="does not verify"):
        verify_bundle(signed, bundle, [RELEASE], trusted_root=staging)
    (tmp_path / "root.json").write_text("{}")
    with pytest.raises(InstallError, match=r"trusted root .* cannot be read.*SYNTHRAL_PLUGIN_SIGSTORE_TRUSTED_ROOT"):
        verify_bundle(signed, bundle, [RELEASE], trusted_root=tmp_path / "root.json")


def test_the_policy_requires_a_bundle_and_checks_one_that_is_present(
    signed: Path, tmp_path: Path, fixture_wheels: dict[str, Path]
) -> None:
    wheel = tmp_path / "w" / fixture_wheels["noop"].name
    wheel.parent.mkdir()
    shutil.copy(fixture_wheels["noop"], wheel)
    required = SupplyChainSettings(signatures=SignaturePolicy.SIGSTORE, sigstore_identities=(RELEASE,))
    with pytest.raises(InstallError, match=r"\.sigstore\.json is missing; put the bundle the release made"):
        verify_wheel(wheel, required, kind="wheel")
    for kind in ("folder", "index"):
        with pytest.raises(InstallError, match=f"=sigstore\\) and a {kind} install has no signature"):
            verify_wheel(None, required, kind=kind)
    # Another file's bundle beside the wheel: refused, required or not.
    shutil.copy(FIXTURES / f"{ARTIFACT}.sigstore", wheel.with_name(wheel.name + ".sigstore.json"))
    for settings in (required, SupplyChainSettings(sigstore_identities=(RELEASE,))):
        with pytest.raises(InstallError, match=f"attests {ARTIFACT}"):
            verify_wheel(wheel, settings, kind="wheel")
    # The real file with its bundle passes the same check the install makes, and says who signed.
    shutil.copy(FIXTURES / f"{ARTIFACT}.sigstore", signed.with_name(signed.name + ".sigstore.json"))
    assert verify_wheel(signed, required, kind="wheel")["sigstore"].startswith(f"Sigstore: signed by {WORKFLOW}")


def test_the_identities_setting_is_json_and_a_mistake_names_the_fix() -> None:
    parsed = SupplyChainSettings.model_validate(
        {"sigstore_identities": json.dumps([{"identity": f"{WORKFLOW}@refs/tags/*", "issuer": ACTIONS}])}
    )
    assert parsed.sigstore_identities == (SigstoreIdentity(f"{WORKFLOW}@refs/tags/*", ACTIONS),)
    for bad, said in (("release.yml", "is not JSON"), ('[{"identity": "a@b.c"}]', "needs an identity and an issuer")):
        with pytest.raises((ValueError, ConfigurationError), match=said):
            SupplyChainSettings.model_validate({"sigstore_identities": bad})


@pytest.mark.slow
async def test_install_with_sigstore_required_refuses_an_unsigned_wheel_and_installs_nothing(
    wheelhouse: Path, tmp_path: Path, fixture_wheels: dict[str, Path]
) -> None:
    wheel = tmp_path / "w" / fixture_wheels["noop"].name
    wheel.parent.mkdir()
    shutil.copy(fixture_wheels["noop"], wheel)
    supply = SupplyChainSettings(signatures=SignaturePolicy.SIGSTORE, sigstore_identities=(RELEASE,))
    plugins = PluginHost(make_settings(tmp_path / "home", wheelhouse).replace(supply=supply))
    try:
        with pytest.raises(InstallError, match=r"sigstore\.json is missing"):
            await plugins.install(str(wheel), grant=GRANT_ALL)
        shutil.copy(FIXTURES / f"{ARTIFACT}.sigstore", wheel.with_name(wheel.name + ".sigstore.json"))
        with pytest.raises(InstallError, match="not this"):
            await plugins.install(str(wheel), grant=GRANT_ALL)
        assert not (tmp_path / "home" / "plugins" / "noop").exists()  # nothing was installed
    finally:
        await plugins.close()
