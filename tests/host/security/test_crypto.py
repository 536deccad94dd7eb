"""Sealing secrets: AES-256-GCM, bound to a context, under a ring that rotates."""

from __future__ import annotations

import base64
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from synthral.config import Settings
from synthral.errors import DecryptionFailed, SecretKeyMissing
from synthral.security.crypto import KeyRing, Sealed, generate_key, key_id_of


def test_a_sealed_value_opens_only_in_its_context() -> None:
    ring = KeyRing.single(generate_key())
    sealed = ring.seal(b"hunter2", "credential:ws:stripe")
    assert b"hunter2" not in sealed.ciphertext
    assert ring.open(sealed, "credential:ws:stripe") == b"hunter2"
    with pytest.raises(DecryptionFailed, match="altered or copied"):
        ring.open(sealed, "credential:other-ws:stripe")


@pytest.mark.parametrize("index", [0, 5, -1])
def test_one_flipped_ciphertext_byte_fails_decryption(index: int) -> None:
    ring = KeyRing.single(generate_key())
    sealed = ring.seal(b"sk_live_123", "ctx")
    flipped = bytearray(sealed.ciphertext)
    flipped[index] ^= 0x01
    with pytest.raises(DecryptionFailed):
        ring.open(Sealed(sealed.key_id, sealed.nonce, bytes(flipped)), "ctx")


def test_an_old_key_still_opens_while_the_new_one_seals() -> None:
    old, new = generate_key(), generate_key()
    before = KeyRing.single(old).seal(b"v1", "ctx")
    ring = KeyRing({key_id_of(new): new, key_id_of(old): old}, key_id_of(new))
    assert ring.open(before, "ctx") == b"v1"
    assert ring.seal(b"v2", "ctx").key_id == key_id_of(new)
    retired = KeyRing.single(new)
    with pytest.raises(SecretKeyMissing, match="not configured"):
        retired.open(before, "ctx")


def ring_from(home: Path, environ: dict[str, str]) -> KeyRing:
    """The key ring a process whose environment is ``environ`` opens."""
    return KeyRing.configured(home, Settings.load(environ).security)


def test_keys_from_the_environment(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    encoded = base64.b64encode
    ring = ring_from(tmp_path, {"SYNTHRAL_SECRET_KEYS": f"k2:{encoded(b).decode()},k1:{encoded(a).decode()}"})
    assert ring.key_ids == ("k2", "k1")
    single = ring_from(tmp_path, {"SYNTHRAL_SECRET_KEY": encoded(a).decode()})
    assert single.key_ids == (key_id_of(a),)


def test_a_key_file_is_created_private_on_first_use(tmp_path: Path) -> None:
    ring = ring_from(tmp_path, {})
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ring_from(tmp_path, {})
    assert again.open(ring.seal(b"x", "c"), "c") == b"x"


def test_a_key_file_made_meanwhile_by_another_process_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    first = ring_from(tmp_path, {})
    assert KeyRing.create_file(path) is False  # lost the race: the other process's key stays
    assert ring_from(tmp_path, {}).key_ids == first.key_ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]  # no temporary file left


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    """Each process sees no key file or a whole one: none reads an empty file and gives up."""
    script = (
        "import sys; from pathlib import Path; from synthral.config import Settings;"
        "from synthral.security.crypto import KeyRing;"
        "print(KeyRing.configured(Path(sys.argv[1]), Settings.load({}).security).key_ids[0])"
    )
    for attempt in range(3):
        home = tmp_path / str(attempt)
        processes = [
            subprocess.Popen([sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(6)
        ]
        results = [process.communicate(timeout=60) for process in processes]
        assert [process.returncode for process in processes] == [0] * 6, [err.decode() for _, err in results]
        assert len({out for out, _ in results}) == 1


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SYNTHRAL_SECRET_KEY": "not base64!"}, "not valid base64"),
        ({"SYNTHRAL_SECRET_KEY": base64.b64encode(b"short").decode()}, "needs 32"),
        ({"SYNTHRAL_SECRET_KEY_FILE": "/nonexistent/keys"}, "does not exist"),
    ],
)
def test_bad_key_configuration_is_named(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SecretKeyMissing, match=message):
        ring_from(tmp_path, environ)
