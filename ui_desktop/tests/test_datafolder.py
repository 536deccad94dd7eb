"""The data folder: one app at a time, and no corrupt or newer database opened or migrated over."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from synthral_desktop.app import DesktopApp, StartRefused
from synthral_desktop.datafolder import DatabaseRefused, DataFolderLock, check_database, known_revisions

LOCK_ELSEWHERE = """
import sys
from pathlib import Path
from synthral_desktop.datafolder import DataFolderBusy, DataFolderLock
try:
    DataFolderLock(Path(sys.argv[1])).acquire()
except DataFolderBusy as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_second_app_on_the_same_data_folder_is_refused_with_the_first_ones_process(
    qapp: QApplication, tmp_path: Path
) -> None:
    lock = DataFolderLock(tmp_path)
    lock.acquire()
    try:
        other = subprocess.run(
            [sys.executable, "-c", LOCK_ELSEWHERE, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert other.returncode == 3
        assert f"in use by another SynthralOS app (process {__import__('os').getpid()}" in other.stdout
        assert "quit it first, or start this one with another data folder" in other.stdout
    finally:
        lock.release()
    free = subprocess.run(
        [sys.executable, "-c", LOCK_ELSEWHERE, str(tmp_path)], capture_output=True, timeout=60, check=False
    )
    assert free.returncode == 0  # released: the next app may start


def test_a_newer_schema_is_refused_with_a_backup_and_left_as_it_was(qapp: QApplication, tmp_path: Path) -> None:
    database = tmp_path / "synthral.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('9999')")
    before = database.read_bytes()
    assert "9999" not in known_revisions()
    with pytest.raises(DatabaseRefused) as refused:
        check_database(tmp_path)
    assert "written by a newer SynthralOS (schema 9999)" in str(refused.value)
    assert refused.value.backup.read_bytes() == before
    assert str(refused.value.backup) in str(refused.value)
    app = DesktopApp(tmp_path, interactive=False)
    with pytest.raises(StartRefused, match="newer SynthralOS"):
        app.start()
    assert database.read_bytes() == before  # never migrated over
    DataFolderLock(tmp_path).acquire()  # the refused app let the folder go


def test_a_corrupt_database_is_refused_with_a_backup(qapp: QApplication, tmp_path: Path) -> None:
    database = tmp_path / "synthral.db"
    database.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseRefused) as refused:
        check_database(tmp_path)
    assert "cannot be read" in str(refused.value)
    assert "Restore a good copy" in str(refused.value)
    assert refused.value.backup.read_bytes() == database.read_bytes()


def test_a_damaged_database_page_is_found_by_sqlites_check(qapp: QApplication, tmp_path: Path) -> None:
    database = tmp_path / "synthral.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x TEXT)")
        connection.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
        connection.execute("CREATE INDEX ix ON t (x)")
    raw = bytearray(database.read_bytes())
    raw[4096 * 3 : 4096 * 3 + 200] = b"\xff" * 200  # scribble over a page in the middle
    database.write_bytes(bytes(raw))
    with pytest.raises(DatabaseRefused, match=r"damaged|cannot be read"):
        check_database(tmp_path)


def test_a_new_or_current_database_passes(qapp: QApplication, tmp_path: Path) -> None:
    check_database(tmp_path)  # none yet
    (tmp_path / "synthral.db").write_bytes(b"")
    check_database(tmp_path)
    with sqlite3.connect(tmp_path / "synthral.db") as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
    check_database(tmp_path)  # older: the host migrates it forward
