"""The sandbox's blob gate: what a plugin wrote enters the store, and its time says it was written now."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from synthral.errors import OutputInvalid
from synthral.plugins.sandbox import BlobGate


def _file(root: Path, data: bytes) -> tuple[str, Path]:
    digest = hashlib.sha256(data).hexdigest()
    path = root / "sha256" / digest[:2] / digest[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, path


@pytest.fixture
def gate(tmp_path: Path) -> BlobGate:
    for name in ("store", "view", "inbox"):
        (tmp_path / name).mkdir()
    return BlobGate(tmp_path / "store", tmp_path / "view", tmp_path / "inbox", "probe==1.0.0")


def test_a_blob_written_again_is_stamped_and_one_only_named_is_not(gate: BlobGate) -> None:
    digest, stored = _file(gate.store, b"bytes another step stored an hour ago")
    os.utime(stored, (1_000_000, 1_000_000))
    # Only named in the answer (the plugin had no bytes to write): the stored file keeps its time.
    gate.ingest({"$blob": f"sha256:{digest}", "size": 37})
    assert stored.stat().st_mtime == 1_000_000
    # Written again by the plugin: its inbox copy goes, and the stored file's time is now.
    _, copy = _file(gate.inbox, b"bytes another step stored an hour ago")
    gate.ingest({"$blob": f"sha256:{digest}", "size": 37})
    assert not copy.exists() and stored.stat().st_mtime > 1_000_000


def test_a_new_blob_is_moved_in_and_one_whose_bytes_lie_is_refused(gate: BlobGate) -> None:
    digest, copy = _file(gate.inbox, b"a page the plugin made")
    gate.ingest([{"$blob": f"sha256:{digest}", "size": 22}])
    assert (gate.store / "sha256" / digest[:2] / digest[2:]).read_bytes() == b"a page the plugin made"
    assert not copy.exists()
    liar = hashlib.sha256(b"what it claims").hexdigest()
    target = gate.inbox / "sha256" / liar[:2] / liar[2:]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"something else")
    with pytest.raises(OutputInvalid, match="hash to"):
        gate.ingest({"$blob": f"sha256:{liar}", "size": 14})
