"""The audit log on both backends: appended in a chain, refused any change, tampering found, filtered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from synthral.errors import InputInvalid
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.passwords import Passwords
from synthral.services.audit import GENESIS, AuditLog
from synthral.services.identity import IdentityService
from synthral.store.db import Database


async def test_events_chain_each_to_the_one_before_and_the_chain_verifies(database: Database) -> None:
    log = AuditLog(database)
    first = await log.record("auth.login", actor_id="u1", target_type="user", target_id="u1", ip="127.0.0.1")
    second = await log.record("credential.write", workspace_id="w1", actor_id="u1", target_id="stripe",
                              details={"kind": "api_key"})  # fmt: skip
    assert (first, second) == (1, 2)
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, prev_hash, hash FROM audit_event ORDER BY id"))).all()
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    report = await log.verify()
    assert (report.ok, report.checked, report.head_id, report.head_hash) == (True, 2, 2, rows[1].hash)


async def test_concurrent_appends_keep_one_unbroken_chain(database: Database) -> None:
    log = AuditLog(database)
    await asyncio.gather(*(log.record("plugin.install", target_id=f"p{i}") for i in range(20)))
    report = await log.verify()
    assert report.ok and report.checked == 20


async def test_the_database_refuses_to_change_or_delete_a_row(database: Database) -> None:
    log = AuditLog(database)
    await log.record("workflow.delete", workspace_id="w1", target_id="wf")
    for statement in ("UPDATE audit_event SET target_id = 'other'", "DELETE FROM audit_event"):
        with pytest.raises((IntegrityError, OperationalError, DBAPIError)) as refused:
            async with database.transaction() as connection:
                await connection.execute(text(statement))
        assert "append-only" in str(refused.value)
    assert (await log.verify()).checked == 1


async def _tamper(database: Database, statement: str) -> None:
    """What someone with the database's superuser could do: lift the guard, change history."""
    async with database.transaction() as connection:
        if database.is_postgres:
            await connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            await connection.execute(text(statement))
            await connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        else:
            await connection.execute(text("DROP TRIGGER audit_event_no_update"))
            await connection.execute(text("DROP TRIGGER audit_event_no_delete"))
            await connection.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "broken_at", "reason"),
    [
        ("UPDATE audit_event SET outcome = 'failure' WHERE id = 2", 2, "changed"),
        ('UPDATE audit_event SET details = \'{"role": "owner"}\' WHERE id = 3', 3, "changed"),
        ("DELETE FROM audit_event WHERE id = 2", 2, "missing"),
    ],
)
async def test_a_changed_or_removed_row_breaks_the_chain_where_it_was(
    database: Database, statement: str, broken_at: int, reason: str
) -> None:
    log = AuditLog(database)
    for index in range(4):
        await log.record("member.role_change", workspace_id="w1", target_id=f"u{index}", details={"role": "viewer"})
    await _tamper(database, statement)
    report = await log.verify()
    assert not report.ok and report.broken_at == broken_at and reason in (report.reason or "")


async def test_rewriting_a_row_with_a_fresh_hash_still_breaks_the_next_link(database: Database) -> None:
    log = AuditLog(database)
    for index in range(3):
        await log.record("credential.read_by_step", workspace_id="w1", target_id=f"c{index}")
    await _tamper(
        database,
        "UPDATE audit_event SET hash = (CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END) || substr(hash, 2) "
        "WHERE id = 2",
    )
    report = await log.verify()
    assert not report.ok and report.broken_at == 2


async def test_a_query_sees_its_workspace_and_server_wide_acts_of_its_members_newest_first(database: Database) -> None:
    identity = IdentityService(
        database, signing_key=b"k" * 32, keyring=KeyRing.single(generate_key()),
        passwords=Passwords(time_cost=1, memory_kib=8192, parallelism=1),
    )  # fmt: skip
    owner = await identity.create_user("owner@example.com", "correct horse battery staple")
    stranger = await identity.create_user("stranger@example.com", "correct horse battery staple")
    acme = await identity.create_workspace("acme", "Acme", owner_id=owner.id)
    log = AuditLog(database)
    await log.record("auth.login", actor_id=owner.id, target_type="user", target_id=owner.id)
    await log.record("auth.login", actor_id=stranger.id, target_type="user", target_id=stranger.id)
    await log.record("auth.login_failed", actor_kind="anonymous", outcome="failure", target_type="user",
                     target_id=owner.id)  # fmt: skip
    await log.record("credential.write", workspace_id=acme.id, actor_id=owner.id, target_id="stripe")
    await log.record("credential.write", workspace_id="elsewhere", actor_id=stranger.id, target_id="stripe")
    events, more = await log.query(acme.id)
    assert [e.action for e in events] == ["credential.write", "auth.login_failed", "auth.login"]
    assert more is None
    page, more = await log.query(acme.id, limit=2)
    assert len(page) == 2 and more == page[-1].id
    rest, _ = await log.query(acme.id, before_id=more)
    assert [e.action for e in rest] == ["auth.login"]
    failures, _ = await log.query(acme.id, outcome="failure")
    assert [e.action for e in failures] == ["auth.login_failed"]
    now = datetime.now(UTC)
    assert (await log.query(acme.id, since=now + timedelta(minutes=1)))[0] == []
    assert len((await log.query(acme.id, action="auth.login", until=now + timedelta(minutes=1)))[0]) == 1


async def test_bad_filters_are_refused_with_the_fix(database: Database) -> None:
    log = AuditLog(database)
    with pytest.raises(InputInvalid, match=r"auth\.login"):
        await log.query("w", action="login")
    with pytest.raises(InputInvalid, match="success"):
        await log.query("w", outcome="maybe")
    now = datetime.now(UTC)
    with pytest.raises(InputInvalid, match="swap"):
        await log.query("w", since=now, until=now - timedelta(days=1))


async def test_secret_values_in_details_are_masked_before_they_are_hashed(database: Database) -> None:
    from synthral.security.redact import process_redactor

    process_redactor.add("audit-secret-value-123")
    log = AuditLog(database)
    await log.record("credential.rotate", workspace_id="w", details={"note": "was audit-secret-value-123"})
    (event,), _ = await log.query("w")
    assert event.details == {"note": "was [REDACTED]"}
    assert (await log.verify()).ok
