"""Browser storage states are sealed at rest: cookies never sit in the database or the blob store in clear."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from synthral.errors import DecryptionFailed, InputInvalid, SecretKeyMissing
from synthral.security.crypto import KeyRing, generate_key, key_id_of
from synthral.services.browser_state import StateVault
from synthral_sdk.blobs import BlobStore


def state_with(cookie: str) -> bytes:
    return json.dumps({"cookies": [{"name": "sid", "value": cookie, "domain": "shop.test", "path": "/"}],
                       "origins": []}).encode()  # fmt: skip


def files_holding(root: Path, needle: str) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle.encode() in path.read_bytes()]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_a_state_is_sealed_into_the_row_and_its_plaintext_blob_deleted(store: BlobStore) -> None:
    vault = StateVault(KeyRing.single(generate_key()), store)
    cookie = "sess_" + secrets.token_hex(12)
    returned = store.put(state_with(cookie), media_type="application/json")

    sealed = vault.seal("session-a", returned.model_dump(mode="json", by_alias=True))
    assert cookie not in json.dumps(sealed) and not store.exists(returned)
    assert files_holding(store.root, cookie) == []

    handed = vault.open("session-a", sealed)  # for the session's next call
    assert json.loads(store.get(handed))["cookies"][0]["value"] == cookie
    vault.discard(handed)
    assert files_holding(store.root, cookie) == []


def test_a_sealed_state_opens_only_for_its_own_session_and_key(store: BlobStore) -> None:
    old, new = generate_key(), generate_key()
    vault = StateVault(KeyRing.single(old), store)
    sealed = vault.seal("session-a", store.put(state_with("c" * 20)).model_dump(mode="json", by_alias=True))

    with pytest.raises(DecryptionFailed):
        vault.open("session-b", sealed)  # copied into another session's row
    rotated = StateVault(KeyRing({key_id_of(new): new, key_id_of(old): old}, key_id_of(new)), store)
    assert json.loads(store.get(rotated.open("session-a", sealed)))["cookies"][0]["value"] == "c" * 20
    with pytest.raises(SecretKeyMissing):
        StateVault(KeyRing.single(new), store).open("session-a", sealed)  # the old key retired too early


def test_an_empty_state_blob_is_left_for_the_sessions_that_share_it(store: BlobStore) -> None:
    vault = StateVault(KeyRing.single(generate_key()), store)
    empty = store.put(json.dumps({"cookies": [], "origins": []}).encode())
    vault.seal("session-a", empty.model_dump(mode="json", by_alias=True))
    assert store.exists(empty)  # another session's call may be reading the same bytes


def test_a_state_kept_before_sealing_is_handed_on_and_a_bad_reference_is_named(store: BlobStore) -> None:
    vault = StateVault(KeyRing.single(generate_key()), store)
    legacy = store.put(state_with("legacy-cookie"))
    assert vault.open("session-a", legacy.model_dump(mode="json", by_alias=True)) == legacy
    with pytest.raises(InputInvalid, match="storage_state that is not a blob reference"):
        vault.seal("session-a", {"cookies": []})
