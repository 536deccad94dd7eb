"""The data folder: one app at a time, and a database this version can open, checked before the host starts.

A second app on the same folder would run a second worker and scheduler on the same SQLite
file; it is refused with a message naming the first one's process. A database that is not
SQLite, fails SQLite's own check, or carries a schema revision this version does not know
(written by a newer SynthralOS) is never migrated over: it is copied to a backup first and
the app says so.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile

__all__ = ["DataFolderBusy", "DataFolderLock", "DatabaseRefused", "check_database", "known_revisions"]

LOCK_NAME = "desktop.lock"
DATABASE_NAME = "synthral.db"


class DataFolderBusy(Exception):
    """Another app uses the data folder."""


@dataclass
class DatabaseRefused(Exception):
    """The database cannot be opened by this version; it was copied to ``backup``."""

    message: str
    backup: Path

    def __str__(self) -> str:
        return self.message


class DataFolderLock:
    """An exclusive lock on ``home`` for as long as this app runs (stale locks of dead apps are taken over).

    Args:
        home: The data folder (``$SYNTHRAL_HOME``).
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(home / LOCK_NAME))
        self._lock.setStaleLockTime(0)  # a lock is stale only when its process is gone

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            DataFolderBusy: Another running app holds it.
        """
        if self._lock.tryLock(0):
            return
        info = self._lock.getLockInfo()  # PySide answers (pid, hostname, application), or an empty value
        who = f"process {info[0]} on {info[1]}" if isinstance(info, tuple) and len(info) >= 2 else "another program"
        raise DataFolderBusy(
            f"the data folder {self.home} is in use by another SynthralOS app ({who}). "
            "Use that window (it may be in the tray), quit it first, or start this one with another "
            "data folder (--home or SYNTHRAL_HOME)"
        )

    def release(self) -> None:
        """Let the lock go."""
        self._lock.unlock()


def known_revisions() -> set[str]:
    """Every schema revision this version's migrations know."""
    from alembic.script import ScriptDirectory

    from synthral.store.db import MIGRATIONS

    scripts = ScriptDirectory(str(MIGRATIONS))
    return {script.revision for script in scripts.walk_revisions()}


def check_database(home: Path) -> None:
    """Refuse a database this version must not open; nothing to do for a new or older one.

    Raises:
        DatabaseRefused: It is corrupt, not a database, or from a newer version (with the backup's path).
    """
    path = home / DATABASE_NAME
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            has_version = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone() if has_version else None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        backup = _backup(path, "corrupt")
        raise DatabaseRefused(
            f"the database {path} cannot be read ({exc}); it was copied to {backup}. Restore a good copy to {path}, "
            f"or move {path} away to start with an empty one",
            backup,
        ) from None
    if verdict != "ok":
        backup = _backup(path, "corrupt")
        raise DatabaseRefused(
            f"the database {path} is damaged (SQLite's check says: {verdict}); it was copied to {backup}. Restore a "
            f"good copy to {path}, or move {path} away to start with an empty one",
            backup,
        )
    if revision is not None and revision[0] not in known_revisions():
        backup = _backup(path, "newer")
        raise DatabaseRefused(
            f"the database {path} was written by a newer SynthralOS (schema {revision[0]}); this version does not "
            f"know it and will not change it. A copy is at {backup}. Install the newer SynthralOS, or use another "
            "data folder",
            backup,
        )


def _backup(path: Path, why: str) -> Path:
    target = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(path, target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            shutil.copy2(companion, target.with_name(target.name + suffix))
    return target
