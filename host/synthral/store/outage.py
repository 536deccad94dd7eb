"""Telling a database outage from an error, and living through one.

A database that is restarting, unreachable, out of disk or read-only is not a fault of the
run, the request or the command that met it. :func:`unavailable` recognises such errors
(whatever the driver raised) as :class:`~synthral.errors.DatabaseUnavailable`, so that
workers, schedulers and the server keep going and retry, the CLI says so and exits 75,
and no run is marked failed for it. :class:`Outage` keeps a long-running loop's log to one
line when an outage starts and one when it ends, and paces its retries.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Final

from sqlalchemy import exc as sa_exc

from synthral.errors import DatabaseUnavailable

__all__ = ["Outage", "unavailable"]

_SQLITE_REASONS: Final = (
    ("database or disk is full", "full"),
    ("disk is full", "full"),
    ("readonly database", "read_only"),
    ("read-only", "read_only"),
    ("database is locked", "busy"),
    ("disk i/o error", "io"),
    ("unable to open database file", "unopenable"),
)
_UNREACHABLE_STATES: Final = frozenset({"57P01", "57P02", "57P03", "53300"})
"""admin_shutdown, crash_shutdown, cannot_connect_now (starting up), too_many_connections; and class 08."""
_UNREACHABLE_TEXTS: Final = (
    "the database system is starting up",
    "the database system is shutting down",
    "terminating connection",
    "connection was closed",
    "connection is closed",
)
_FULL_BELOW: Final = 1024 * 1024
"""Free bytes under which a disk counts as full: SQLite needs room for its journal and index pages."""
_ERRNO_REASONS: Final = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EROFS: "read_only",
    errno.EIO: "io",
}
_FIXES: Final = {
    "full": "its disk is full; free space on the disk that holds it and try again",
    "read_only": "it is read-only; make it (and its folder) writable and try again",
    "busy": "another process holds it locked; try again when that process is done",
    "io": "the disk failed to read or write it; check the disk and try again",
    "unreachable": "it cannot be reached; check that it is running and reachable, then try again",
    "unopenable": "it cannot be opened; check that its file and folder exist and may be written, then try again",
}


def _reason(error: BaseException) -> tuple[str, str] | None:
    """(reason, detail) when ``error`` says the database (or its disk) is unavailable."""
    if isinstance(error, OSError) and error.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[error.errno], error.strerror or str(error)
    if isinstance(error, ConnectionError):
        return "unreachable", str(error) or type(error).__name__
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return "unreachable", str(error)
    if isinstance(error, sa_exc.DBAPIError):
        original = error.orig
        text = str(original).lower()
        if isinstance(original, sqlite3.Error):
            for needle, reason in _SQLITE_REASONS:
                if needle in text:
                    return reason, str(original)
            return None
        state = _sqlstate(original)
        unreachable = (
            error.connection_invalidated
            or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
            or (state is not None and (state.startswith("08") or state in _UNREACHABLE_STATES))
            or any(needle in text for needle in _UNREACHABLE_TEXTS)
        )
        if unreachable:
            return "unreachable", str(original).splitlines()[0] if str(original) else type(original).__name__
    return None


def _read_only(path: Path) -> bool:
    """Whether the filesystem holding ``path`` is mounted read-only."""
    folder = path if path.is_dir() else path.parent
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _nearly_full(path: Path) -> bool:
    """Whether the filesystem holding ``path`` has (almost) no room left."""
    folder = path if path.is_dir() else path.parent
    try:
        return shutil.disk_usage(folder).free < _FULL_BELOW
    except OSError:
        return False


def _sqlstate(error: BaseException | None) -> str | None:
    """PostgreSQL's SQLSTATE of a driver error (or of the error it wraps)."""
    for candidate in (error, error.__cause__ if error is not None else None):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def unavailable(
    error: BaseException, where: str = "the database", *, path: Path | None = None
) -> DatabaseUnavailable | None:
    """The outage ``error`` stands for, naming ``where`` and the fix; None for any other error.

    The error's causes are looked at too (a driver error wrapped by another). ``path`` (a
    SQLite file) lets an I/O error be told apart from a full disk, which SQLite often
    reports as one.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, DatabaseUnavailable):
            return current
        seen.add(id(current))
        found = _reason(current)
        if found is not None:
            reason, detail = found
            if reason in ("io", "unopenable") and path is not None:
                # SQLite says "disk I/O error" or "unable to open" for a full or read-only disk too.
                if _read_only(path):
                    reason = "read_only"
                elif _nearly_full(path):
                    reason = "full"
            return DatabaseUnavailable(
                f"{where} is unavailable: {_FIXES[reason]} ({detail[:300]}). Nothing was written by this operation",
                details={"reason": reason, "database": where},
            )
        current = current.__cause__ or current.__context__
    return None


class Outage:
    """One long-running loop's view of the database: up, or down since when.

    Args:
        log: Where the two lines of an outage go.
        who: The loop, for the log: ``worker host:123:ab12``.
        base: Seconds of the first pause after a failure; doubles up to ``ceiling``.
        ceiling: The longest pause between retries.
        forget_after: For callers that cannot see successes (the server's requests): a
            failure this many seconds after the last one starts a new outage, logged again.
    """

    def __init__(
        self,
        log: logging.Logger,
        who: str,
        *,
        base: float = 0.5,
        ceiling: float = 5.0,
        forget_after: float | None = None,
    ) -> None:
        self.log = log
        self.who = who
        self.base = base
        self.ceiling = ceiling
        self.forget_after = forget_after
        self.since: float | None = None
        self.last: float = 0.0
        self.failures = 0
        self.reason: str | None = None

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self.since is not None

    def failed(self, error: DatabaseUnavailable) -> float:
        """Note a failure (logged once per outage); the seconds to wait before the next attempt."""
        now = time.monotonic()
        if self.forget_after is not None and self.since is not None and now - self.last > self.forget_after:
            self.since, self.failures = None, 0
        self.last = now
        if self.since is None:
            self.since = time.monotonic()
            self.reason = str(error.details.get("reason", "unreachable"))
            self.log.warning("%s: %s; it keeps trying and logs when the database is back", self.who, error)
        self.failures += 1
        return float(min(self.ceiling, self.base * 2 ** min(self.failures - 1, 16)))

    def recovered(self, *, wrote: bool = True) -> None:
        """Note a success; logs the end of an outage once.

        Args:
            wrote: The success was a write that changed something. Reads (and writes that
                changed nothing) still work on a full or read-only disk, so they end only an
                outage of an unreachable database.
        """
        if self.since is not None and not wrote and self.reason != "unreachable":
            return
        if self.since is not None:
            self.log.warning(
                "%s: the database answers again after %.1f s; carrying on", self.who, time.monotonic() - self.since
            )
        self.since = None
        self.failures = 0
