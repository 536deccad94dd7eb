"""Telling a database outage from an error, and logging an outage once."""

from __future__ import annotations

import errno
import logging
import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from synthral.errors import DatabaseUnavailable
from synthral.store.db import database_location
from synthral.store.outage import Outage, unavailable


def wrapped(original: Exception, *, kind: type[sa_exc.DBAPIError] = sa_exc.OperationalError) -> sa_exc.DBAPIError:
    return kind("INSERT INTO step …", {}, original)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (wrapped(sqlite3.OperationalError("database or disk is full")), "full"),
        (wrapped(sqlite3.OperationalError("attempt to write a readonly database")), "read_only"),
        (wrapped(sqlite3.OperationalError("database is locked")), "busy"),
        (wrapped(sqlite3.OperationalError("disk I/O error")), "io"),
        (wrapped(sqlite3.OperationalError("unable to open database file")), "unopenable"),
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), "unreachable"),
        (ConnectionResetError(104, "Connection reset by peer"), "unreachable"),
        (OSError(errno.ENOSPC, "No space left on device"), "full"),
        (OSError(errno.EROFS, "Read-only file system"), "read_only"),
        (wrapped(RuntimeError("terminating connection due to administrator command")), "unreachable"),
        (wrapped(RuntimeError("connection is closed"), kind=sa_exc.InterfaceError), "unreachable"),
        (wrapped(RuntimeError("the database system is starting up"), kind=sa_exc.DBAPIError), "unreachable"),
    ],
)
def test_outages_are_recognised_with_their_reason(error: Exception, reason: str) -> None:
    found = unavailable(error, "the database /srv/synthral.db")
    assert isinstance(found, DatabaseUnavailable)
    assert found.details["reason"] == reason and found.retryable
    assert found.message.startswith("the database /srv/synthral.db is unavailable: ")
    assert "Nothing was written" in found.message


def test_errors_of_the_request_are_not_outages() -> None:
    assert unavailable(wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), kind=sa_exc.IntegrityError)) is None
    assert unavailable(wrapped(sqlite3.OperationalError("no such table: nope"))) is None
    assert unavailable(ValueError("bad")) is None
    assert unavailable(OSError(errno.ENOENT, "No such file")) is None
    outer = RuntimeError("while claiming")
    outer.__cause__ = ConnectionRefusedError(111, "refused")
    assert unavailable(outer) is not None  # a cause is looked at too


def test_a_location_never_shows_a_password() -> None:
    where = database_location("postgresql+asyncpg://ops:hunter2@db.internal:6543/synthral")
    assert where == "the PostgreSQL database synthral on db.internal:6543" and "hunter2" not in where
    assert database_location("sqlite+aiosqlite:////srv/home/synthral.db") == "the database /srv/home/synthral.db"


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(logging.getLogger("test.outage"), "worker w1", base=0.5, ceiling=4.0)
    trouble = DatabaseUnavailable("the database is unavailable: it cannot be reached", details={"reason": "x"})
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        pauses = [outage.failed(trouble) for _ in range(6)]
        outage.recovered()
        outage.recovered()
    assert pauses == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # backs off, up to a ceiling
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("worker w1: the database is unavailable") and "answers again" in lines[1]
    assert not outage.down
