"""The content-addressed blob store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from synthral_sdk import BlobRef, BlobStore
from synthral_sdk.errors import InputInvalid


def test_put_get_is_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    ref = store.put(b"hello", media_type="text/plain", name="a.txt")
    assert ref.digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert store.get(ref) == b"hello"
    assert store.put(b"hello").digest == ref.digest  # idempotent
    assert ref.to_json() == {"$blob": ref.digest, "size": 5, "mediaType": "text/plain", "name": "a.txt"}
    assert BlobRef.model_validate(ref.to_json()) == ref
    assert list(store.iter_digests()) == [ref.digest]
    assert not list((tmp_path / "tmp").iterdir())  # no temporary file left behind


def test_put_file_streams(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 * 1024 * 1024 + 7))
    store = BlobStore(tmp_path / "store")
    ref = store.put_file(source)
    assert ref.size == source.stat().st_size and store.path(ref).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("digest", ["sha256:../../etc/passwd", "sha256:ABC", "md5:" + "0" * 32, "sha256:" + "g" * 64])
def test_references_that_are_not_digests_are_refused(digest: str) -> None:
    with pytest.raises(ValidationError, match="64 lowercase hex"):
        BlobRef.model_validate({"$blob": digest, "size": 1})


def test_missing_or_truncated_blobs_are_explained(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    ghost = BlobRef.model_validate({"$blob": "sha256:" + "0" * 64, "size": 3})
    with pytest.raises(InputInvalid, match="not in the blob store"):
        store.get(ghost)
    ref = store.put(b"abc")
    lying = BlobRef.model_validate({**ref.to_json(), "size": 4})
    with pytest.raises(InputInvalid, match="has 3 bytes"):
        store.get(lying)
