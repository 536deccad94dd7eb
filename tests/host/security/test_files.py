"""The home, the database, key files and blobs are their owner's only; looser ones are reported."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthral.config import Settings
from synthral.security.files import loose_paths
from synthral.services.app import open_app
from synthral_sdk import BlobStore
from tests.support.api import open_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: without care, files are made 0644 and folders 0755
    yield
    os.umask(old)


async def test_a_new_home_and_everything_in_it_are_private(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("SYNTHRAL_DATABASE_URL", "SYNTHRAL_SECRET_KEY", "SYNTHRAL_SECRET_KEYS", "SYNTHRAL_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "deep" / "home"
    settings = Settings.load(home=home)
    with caplog.at_level(logging.WARNING, logger="synthral.security"):
        async with open_server(settings) as server:
            await server.identity.create_user("ada@example.com", "correct horse battery staple")
            ref = BlobStore(settings.blobs_dir).put(b"an invoice", media_type="text/plain")
            blob = BlobStore(settings.blobs_dir).path(ref)
            database = home / "synthral.db"
            wal, shm = home / "synthral.db-wal", home / "synthral.db-shm"
            assert wal.exists() and shm.exists()
            assert mode(home) == 0o700
            for private in (database, wal, shm, home / "secret.key", home / "jwt.key", blob):
                assert mode(private) == 0o600, private
            assert mode(settings.blobs_dir) == 0o700
    assert not caplog.records  # nothing to warn about
    assert loose_paths([home, settings.blobs_dir], [p for p in home.iterdir() if p.is_file()]) == []


async def test_looser_modes_are_reported_at_start_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SYNTHRAL_DATABASE_URL", raising=False)
    home = tmp_path / "home"
    settings = Settings.load(home=home)
    async with open_app(settings):
        pass
    os.chmod(home, 0o755)
    os.chmod(home / "synthral.db", 0o644)
    os.chmod(home / "secret.key", 0o640)
    with caplog.at_level(logging.WARNING, logger="synthral.security"):
        async with open_app(settings):
            pass
    warnings = [record.getMessage() for record in caplog.records]
    assert any(f"{home} is a folder with mode 0755" in w and f"chmod 700 {home}" in w for w in warnings), warnings
    assert any(f"chmod 600 {home / 'synthral.db'}" in w for w in warnings), warnings
    assert any("secret.key is a file with mode 0640" in w for w in warnings), warnings
    assert mode(home / "synthral.db") == 0o644  # reported, not changed behind the operator's back
