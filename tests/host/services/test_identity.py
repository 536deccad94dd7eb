"""The identity service on both backends: accounts, sign-in, tokens, API keys, TOTP, workspaces."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from synthral.config import Settings
from synthral.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    DecryptionFailed,
    Forbidden,
    InputInvalid,
    MfaRequired,
    NotFound,
    RateLimited,
)
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.passwords import Passwords
from synthral.security.tokens import AccessTokens, load_signing_key
from synthral.security.totp import decode_secret, hotp, time_step
from synthral.services.accounts import ApiKey, Principal, TokenPair, User
from synthral.services.identity import IdentityService
from synthral.store.db import Database
from synthral.store.tables import API_KEY, REFRESH_TOKEN, USER, Role

SIGNING_KEY = b"0123456789abcdef" * 4
PASSWORD = "correct horse battery"
CHEAP = Passwords(time_cost=1, memory_kib=1024, parallelism=1)


def make_service(database: Database, **options: Any) -> IdentityService:
    settings: dict[str, Any] = {
        "signing_key": SIGNING_KEY,
        "keyring": KeyRing.single(generate_key()),
        "passwords": CHEAP,
        **options,
    }
    return IdentityService(database, **settings)


@pytest.fixture
def identity(database: Database) -> IdentityService:
    return make_service(database)


async def set_user(database: Database, user_id: str, **values: Any) -> None:
    async with database.transaction() as connection:
        await connection.execute(update(USER).where(USER.c.id == user_id).values(**values))


async def user_row(database: Database, user_id: str) -> Any:
    async with database.engine.connect() as connection:
        return (await connection.execute(select(USER).where(USER.c.id == user_id))).one()


async def sign_up(identity: IdentityService, email: str = "ada@example.com") -> User:
    return await identity.create_user(email, PASSWORD, display_name="Ada")


# -- accounts -------------------------------------------------------------------------------


async def test_an_account_is_created_with_a_normalised_email_and_a_hashed_password(
    identity: IdentityService, database: Database
) -> None:
    user = await identity.create_user("  Ada@Example.COM ", PASSWORD, display_name=" Ada ")
    assert user.email == "ada@example.com" and user.display_name == "Ada"
    row = await user_row(database, user.id)
    assert row.email == "ada@example.com"
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert row.is_active and row.failed_logins == 0 and not row.totp_enabled


async def test_an_email_can_hold_only_one_account(identity: IdentityService) -> None:
    await sign_up(identity)
    with pytest.raises(Conflict, match=r"'ada@example\.com' exists already"):
        await identity.create_user("ADA@example.com", PASSWORD)


async def test_a_malformed_email_is_refused(identity: IdentityService) -> None:
    for email in ("", "ada", "ada@", "@example.com", "a b@example.com", "a@b@c", "x" * 250 + "@a.io"):
        with pytest.raises(InputInvalid, match=r"is not an email address; give one of the form name@example\.com"):
            await identity.create_user(email, PASSWORD)


async def test_the_password_policy_applies_to_new_accounts(identity: IdentityService) -> None:
    for password, problem in (("eleven char", "at least 12"), ("z" * 16, "one character")):
        with pytest.raises(InputInvalid, match=problem):
            await identity.create_user("ada@example.com", password)


async def test_the_local_users_email_is_reserved(identity: IdentityService) -> None:
    with pytest.raises(InputInvalid, match="reserved for the desktop's local user"):
        await identity.create_user("Local@Localhost", PASSWORD)


async def test_an_account_without_a_password_cannot_sign_in_with_one(identity: IdentityService) -> None:
    user = await identity.create_user("oidc@example.com", None)
    assert user.password_hash is None
    with pytest.raises(AuthenticationFailed, match="wrong email or password"):
        await identity.login("oidc@example.com", PASSWORD)


def test_a_short_signing_key_is_refused(database: Database) -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        make_service(database, signing_key=b"too short")


def test_the_signing_key_comes_from_the_environment_or_the_key_file(tmp_path: Path) -> None:
    configured = Settings.load({"SYNTHRAL_JWT_SECRET": "v" * 32}).security.jwt_secret
    assert load_signing_key(tmp_path, configured) == b"v" * 32
    made = load_signing_key(tmp_path, Settings.load({}).security.jwt_secret)
    assert (tmp_path / "jwt.key").read_bytes() == made and len(made) == 64


# -- sign-in --------------------------------------------------------------------------------


async def test_sign_in_hands_out_a_token_pair_that_authenticates(identity: IdentityService) -> None:
    user = await sign_up(identity)
    pair = await identity.login("ADA@example.com ", PASSWORD)
    assert pair.token_type == "bearer" and pair.expires_in == 30 * 60
    assert pair.access_token not in repr(pair) and pair.refresh_token not in repr(pair)
    assert await identity.authenticate(pair.access_token) == Principal(user.id, "ada@example.com", "token")


async def test_unknown_email_wrong_password_and_inactive_account_get_one_answer(
    identity: IdentityService, database: Database
) -> None:
    user = await sign_up(identity)
    messages = set()
    for email, password in (("nobody@example.com", PASSWORD), ("ada@example.com", "wrong password!"), ("bad", "x")):
        with pytest.raises(AuthenticationFailed) as caught:
            await identity.login(email, password)
        messages.add((type(caught.value), caught.value.message))
    await set_user(database, user.id, is_active=False, failed_logins=0)
    with pytest.raises(AuthenticationFailed) as caught:
        await identity.login("ada@example.com", PASSWORD)
    messages.add((type(caught.value), caught.value.message))
    assert messages == {(AuthenticationFailed, "wrong email or password; check both and try again")}


async def test_an_inactive_account_loses_its_tokens(identity: IdentityService, database: Database) -> None:
    user = await sign_up(identity)
    pair = await identity.login("ada@example.com", PASSWORD)
    await set_user(database, user.id, is_active=False)
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        await identity.authenticate(pair.access_token)
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        await identity.refresh(pair.refresh_token)


async def test_failed_sign_ins_lock_the_account_until_the_lockout_ends(database: Database) -> None:
    identity = make_service(database, max_failed_logins=3, lockout=timedelta(seconds=2))
    user = await sign_up(identity)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await identity.login("ada@example.com", "wrong password!")
    with pytest.raises(RateLimited, match="locked; try again in") as caught:
        await identity.login("ada@example.com", "wrong password!")
    wait = caught.value.details["retry_after"]
    assert isinstance(wait, int) and 1 <= wait <= 2
    with pytest.raises(RateLimited) as again:
        await identity.login("ada@example.com", PASSWORD)
    assert again.value.retryable
    row = await user_row(database, user.id)
    assert row.locked_until is not None and row.failed_logins == 0
    await asyncio.sleep(2.1)
    await identity.login("ada@example.com", PASSWORD)
    row = await user_row(database, user.id)
    assert row.locked_until is None and row.failed_logins == 0


async def test_concurrent_guesses_get_no_more_answers_than_the_limit(database: Database) -> None:
    identity = make_service(database, max_failed_logins=3)
    await sign_up(identity)
    results = await asyncio.gather(
        *(identity.login("ada@example.com", f"wrong password {n}") for n in range(8)), return_exceptions=True
    )
    answered = [result for result in results if type(result) is AuthenticationFailed]
    refused = [result for result in results if isinstance(result, RateLimited)]
    assert len(answered) <= 3 and len(refused) >= 5 and len(answered) + len(refused) == 8
    with pytest.raises(RateLimited):
        await identity.login("ada@example.com", PASSWORD)


async def test_a_successful_sign_in_resets_the_failure_count(database: Database) -> None:
    identity = make_service(database, max_failed_logins=3)
    user = await sign_up(identity)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await identity.login("ada@example.com", "wrong password!")
    assert (await user_row(database, user.id)).failed_logins == 2
    await identity.login("ada@example.com", PASSWORD)
    assert (await user_row(database, user.id)).failed_logins == 0
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await identity.login("ada@example.com", "wrong password!")
    await identity.login("ada@example.com", PASSWORD)


async def test_a_hash_of_an_older_cost_is_replaced_at_sign_in(database: Database) -> None:
    keyring = KeyRing.single(generate_key())
    user = await make_service(database, keyring=keyring).create_user("ada@example.com", PASSWORD)
    old_hash = (await user_row(database, user.id)).password_hash
    stronger = make_service(database, keyring=keyring, passwords=Passwords(time_cost=2, memory_kib=2048, parallelism=1))
    await stronger.login("ada@example.com", PASSWORD)
    new_hash = (await user_row(database, user.id)).password_hash
    assert new_hash != old_hash and new_hash.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    await stronger.login("ada@example.com", PASSWORD)
    assert (await user_row(database, user.id)).password_hash == new_hash


# -- refresh tokens -------------------------------------------------------------------------


async def test_a_refresh_rotates_the_refresh_token(identity: IdentityService, database: Database) -> None:
    user = await sign_up(identity)
    first = await identity.login("ada@example.com", PASSWORD)
    second = await identity.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert (await identity.authenticate(second.access_token)).user_id == user.id
    third = await identity.refresh(second.refresh_token)
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(REFRESH_TOKEN).order_by(REFRESH_TOKEN.c.issued_at))).all()
    assert len(rows) == 3 and len({row.family_id for row in rows}) == 1
    assert [row.rotated_at is not None for row in rows].count(True) == 2
    assert third.refresh_token not in {row.token_hash for row in rows}


async def test_a_reused_refresh_token_revokes_its_whole_family(identity: IdentityService) -> None:
    await sign_up(identity)
    stolen = await identity.login("ada@example.com", PASSWORD)
    other_device = await identity.login("ada@example.com", PASSWORD)
    rotated = await identity.refresh(stolen.refresh_token)
    with pytest.raises(AuthenticationFailed, match=r"^refresh token reused; sign in again") as caught:
        await identity.refresh(stolen.refresh_token)
    assert caught.value.details == {"reason": "reused"}
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await identity.refresh(rotated.refresh_token)
    await identity.refresh(other_device.refresh_token)


async def test_of_two_concurrent_refreshes_of_one_token_exactly_one_succeeds(identity: IdentityService) -> None:
    await sign_up(identity)
    pair = await identity.login("ada@example.com", PASSWORD)
    results = await asyncio.gather(
        identity.refresh(pair.refresh_token), identity.refresh(pair.refresh_token), return_exceptions=True
    )
    winners = [result for result in results if isinstance(result, TokenPair)]
    losers = [result for result in results if isinstance(result, AuthenticationFailed)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].details == {"reason": "reused"}
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await identity.refresh(winners[0].refresh_token)


async def test_an_expired_refresh_token_is_refused(identity: IdentityService, database: Database) -> None:
    await sign_up(identity)
    pair = await identity.login("ada@example.com", PASSWORD)
    async with database.transaction() as connection:
        await connection.execute(update(REFRESH_TOKEN).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(AuthenticationFailed, match="expired; sign in again"):
        await identity.refresh(pair.refresh_token)


async def test_an_unknown_refresh_token_is_refused(identity: IdentityService) -> None:
    with pytest.raises(AuthenticationFailed, match="not valid; sign in again"):
        await identity.refresh("never-issued")


async def test_logout_revokes_the_family_and_is_idempotent(identity: IdentityService) -> None:
    await sign_up(identity)
    pair = await identity.login("ada@example.com", PASSWORD)
    rotated = await identity.refresh(pair.refresh_token)
    await identity.logout(rotated.refresh_token)
    await identity.logout(rotated.refresh_token)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await identity.refresh(rotated.refresh_token)
    with pytest.raises(AuthenticationFailed, match="not valid"):
        await identity.logout("never-issued")


# -- access tokens --------------------------------------------------------------------------


async def test_an_expired_access_token_is_refused(identity: IdentityService) -> None:
    user = await sign_up(identity)
    old = AccessTokens(SIGNING_KEY).issue(user.id, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(AuthenticationFailed, match="expired"):
        await identity.authenticate(old)


async def test_a_short_access_ttl_is_honoured(database: Database) -> None:
    identity = make_service(database, access_ttl=timedelta(minutes=5))
    await sign_up(identity)
    assert (await identity.login("ada@example.com", PASSWORD)).expires_in == 300


async def test_an_access_token_of_another_key_or_without_signature_is_refused(identity: IdentityService) -> None:
    user = await sign_up(identity)
    forged = AccessTokens(b"an entirely different signing key!").issue(user.id)
    with pytest.raises(AuthenticationFailed, match="not valid"):
        await identity.authenticate(forged)
    header, claims, _ = (await identity.login("ada@example.com", PASSWORD)).access_token.split(".")
    unsigned = f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}."
    with pytest.raises(AuthenticationFailed, match="not valid"):
        await identity.authenticate(unsigned)
    with pytest.raises(AuthenticationFailed):
        await identity.authenticate(f"{header}.{claims}.")


async def test_an_access_token_of_a_deleted_account_is_refused(identity: IdentityService) -> None:
    token = AccessTokens(SIGNING_KEY).issue("no-such-user")
    with pytest.raises(AuthenticationFailed, match="deactivated or gone"):
        await identity.authenticate(token)


# -- workspaces and members -----------------------------------------------------------------


async def test_a_workspace_starts_with_its_owner(identity: IdentityService) -> None:
    owner = await sign_up(identity)
    workspace = await identity.create_workspace("acme-ops", " Acme ops ", owner_id=owner.id)
    assert workspace.slug == "acme-ops" and workspace.name == "Acme ops"
    assert await identity.role_in(owner.id, workspace.id) == Role.OWNER
    listed = await identity.workspaces_of(owner.id)
    assert [(ws.id, ws.slug, role) for ws, role in listed] == [(workspace.id, "acme-ops", Role.OWNER)]
    assert listed[0][0].created_at is not None and listed[0][0].created_at.tzinfo is not None


async def test_a_malformed_slug_is_refused(identity: IdentityService) -> None:
    owner = await sign_up(identity)
    for slug in ("a", "-acme", "Acme", "acme ops", "acme_ops", "x" * 64, "acmé", "acme\n"):
        with pytest.raises(InputInvalid, match="use 2 to 63 lower-case letters, digits and dashes"):
            await identity.create_workspace(slug, "Acme", owner_id=owner.id)


async def test_a_slug_is_taken_once_and_the_owner_must_exist(identity: IdentityService) -> None:
    owner = await sign_up(identity)
    await identity.create_workspace("acme", "Acme", owner_id=owner.id)
    with pytest.raises(Conflict, match="'acme' is taken"):
        await identity.create_workspace("acme", "Acme 2", owner_id=owner.id)
    with pytest.raises(NotFound, match="no user"):
        await identity.create_workspace("other", "Other", owner_id="nobody")
    with pytest.raises(InputInvalid, match="name"):
        await identity.create_workspace("other", "  ", owner_id=owner.id)
    assert [ws.slug for ws, _ in await identity.workspaces_of(owner.id)] == ["acme"]


async def test_accounts_and_workspaces_are_found_by_email_and_slug(identity: IdentityService) -> None:
    owner = await sign_up(identity)
    workspace = await identity.create_workspace("acme", "Acme", owner_id=owner.id)
    assert await identity.user_id_by_email(" ADA@example.com") == owner.id
    assert await identity.user_id_by_email("nobody@example.com") is None
    with pytest.raises(InputInvalid, match="not an email address"):
        await identity.user_id_by_email("ada")
    found = await identity.workspace_by_slug("acme")
    assert found is not None and (found.id, found.name) == (workspace.id, "Acme")
    assert await identity.workspace_by_slug("nowhere") is None


async def test_members_are_added_changed_and_removed(identity: IdentityService) -> None:
    owner, bob = await sign_up(identity), await sign_up(identity, "bob@example.com")
    workspace = await identity.create_workspace("acme", "Acme", owner_id=owner.id)
    second = await identity.create_workspace("beta", "Beta", owner_id=bob.id)
    await identity.add_member(workspace.id, bob.id, Role.VIEWER)
    assert await identity.role_in(bob.id, workspace.id) == Role.VIEWER
    assert [(ws.slug, role) for ws, role in await identity.workspaces_of(bob.id)] == [
        ("acme", Role.VIEWER),
        ("beta", Role.OWNER),
    ]
    with pytest.raises(Conflict, match="member of this workspace already"):
        await identity.add_member(workspace.id, bob.id, Role.EDITOR)
    await identity.set_role(workspace.id, bob.id, Role.EDITOR)
    assert await identity.role_in(bob.id, workspace.id) == Role.EDITOR
    await identity.remove_member(workspace.id, bob.id)
    assert await identity.role_in(bob.id, workspace.id) is None
    assert await identity.role_in(bob.id, second.id) == Role.OWNER


async def test_membership_changes_name_what_is_missing(identity: IdentityService) -> None:
    owner, bob = await sign_up(identity), await sign_up(identity, "bob@example.com")
    workspace = await identity.create_workspace("acme", "Acme", owner_id=owner.id)
    with pytest.raises(InputInvalid, match="'admin' is not a workspace role; use one of owner, editor, viewer"):
        await identity.add_member(workspace.id, bob.id, "admin")
    with pytest.raises(InputInvalid, match="not a workspace role"):
        await identity.set_role(workspace.id, owner.id, "root")
    with pytest.raises(NotFound, match="no workspace"):
        await identity.add_member("nowhere", bob.id, Role.VIEWER)
    with pytest.raises(NotFound, match="no user"):
        await identity.add_member(workspace.id, "nobody", Role.VIEWER)
    with pytest.raises(NotFound, match="not a member"):
        await identity.set_role(workspace.id, bob.id, Role.EDITOR)
    with pytest.raises(NotFound, match="not a member"):
        await identity.remove_member(workspace.id, bob.id)


async def test_the_last_owner_can_be_neither_demoted_nor_removed(identity: IdentityService) -> None:
    owner, bob = await sign_up(identity), await sign_up(identity, "bob@example.com")
    workspace = await identity.create_workspace("acme", "Acme", owner_id=owner.id)
    with pytest.raises(Conflict, match="last owner of a workspace cannot be demoted; make another member owner first"):
        await identity.set_role(workspace.id, owner.id, Role.EDITOR)
    with pytest.raises(Conflict, match="cannot be removed"):
        await identity.remove_member(workspace.id, owner.id)
    await identity.set_role(workspace.id, owner.id, Role.OWNER)
    await identity.add_member(workspace.id, bob.id, Role.OWNER)
    await identity.set_role(workspace.id, owner.id, Role.VIEWER)
    with pytest.raises(Conflict, match="cannot be removed"):
        await identity.remove_member(workspace.id, bob.id)
    assert await identity.role_in(bob.id, workspace.id) == Role.OWNER


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(identity: IdentityService) -> None:
    ada, bob = await sign_up(identity), await sign_up(identity, "bob@example.com")
    workspace = await identity.create_workspace("acme", "Acme", owner_id=ada.id)
    await identity.add_member(workspace.id, bob.id, Role.OWNER)
    results = await asyncio.gather(
        identity.set_role(workspace.id, ada.id, Role.EDITOR),
        identity.remove_member(workspace.id, bob.id),
        return_exceptions=True,
    )
    assert sum(isinstance(result, Conflict) for result in results) == 1
    roles = [await identity.role_in(user.id, workspace.id) for user in (ada, bob)]
    assert roles.count(Role.OWNER) == 1


# -- API keys -------------------------------------------------------------------------------


async def _member_with_key(identity: IdentityService, **options: Any) -> tuple[User, str, ApiKey, str]:
    user = await sign_up(identity)
    workspace = await identity.create_workspace("acme", "Acme", owner_id=user.id)
    row, key = await identity.create_api_key(user.id, workspace.id, " deploy bot ", **options)
    return user, workspace.id, row, key


async def test_an_api_key_acts_as_its_user_in_its_workspace(identity: IdentityService, database: Database) -> None:
    user, workspace_id, row, key = await _member_with_key(identity)
    assert row.name == "deploy bot" and key.startswith(f"syn_{row.prefix}_")
    assert row.key_hash != key and key not in row.key_hash
    principal = await identity.authenticate(key)
    assert principal == Principal(user.id, "ada@example.com", "api_key", workspace_id)
    assert [listed.id for listed in await identity.list_api_keys(user.id)] == [row.id]
    async with database.engine.connect() as connection:
        stored = (await connection.execute(select(API_KEY))).one()
    assert key not in str(tuple(stored))


async def test_last_used_is_recorded_at_most_once_a_minute(identity: IdentityService, database: Database) -> None:
    _, _, row, key = await _member_with_key(identity)
    await identity.authenticate(key)
    first = (await identity.list_api_keys(row.user_id))[0].last_used_at
    assert first is not None
    await identity.authenticate(key)
    assert (await identity.list_api_keys(row.user_id))[0].last_used_at == first
    async with database.transaction() as connection:
        await connection.execute(update(API_KEY).values(last_used_at=first - timedelta(minutes=2)))
    await identity.authenticate(key)
    assert (await identity.list_api_keys(row.user_id))[0].last_used_at >= first  # type: ignore[operator]


async def test_a_revoked_key_is_refused_and_only_its_owner_may_revoke_it(identity: IdentityService) -> None:
    user, _, row, key = await _member_with_key(identity)
    stranger = await sign_up(identity, "eve@example.com")
    with pytest.raises(NotFound, match="no API key"):
        await identity.revoke_api_key(row.id, user_id=stranger.id)
    await identity.authenticate(key)
    await identity.revoke_api_key(row.id, user_id=user.id)
    await identity.revoke_api_key(row.id, user_id=user.id)
    with pytest.raises(AuthenticationFailed, match="revoked; create a new one"):
        await identity.authenticate(key)
    assert (await identity.list_api_keys(user.id))[0].revoked_at is not None
    with pytest.raises(NotFound):
        await identity.revoke_api_key("no-such-key", user_id=user.id)


async def test_an_expired_key_is_refused(identity: IdentityService, database: Database) -> None:
    *_, key = await _member_with_key(identity, expires_at=datetime.now(UTC) + timedelta(days=1))
    await identity.authenticate(key)
    async with database.transaction() as connection:
        await connection.execute(update(API_KEY).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(AuthenticationFailed, match=r"expired at .*; create a new one"):
        await identity.authenticate(key)


async def test_a_key_with_a_wrong_secret_or_unknown_prefix_is_refused(identity: IdentityService) -> None:
    *_, key = await _member_with_key(identity)
    wrong_secret = key[:-1] + ("A" if key[-1] != "A" else "B")
    for candidate in (wrong_secret, "syn_" + "Z" * 12 + key[16:]):
        with pytest.raises(AuthenticationFailed, match="API key is not valid; check that it was copied whole"):
            await identity.authenticate(candidate)
    with pytest.raises(AuthenticationFailed, match="malformed"):
        await identity.authenticate(key[:-1])


async def test_a_key_stops_working_when_its_user_leaves_or_is_deactivated(
    identity: IdentityService, database: Database
) -> None:
    user, workspace_id, _, key = await _member_with_key(identity)
    bob = await sign_up(identity, "bob@example.com")
    await identity.add_member(workspace_id, bob.id, Role.VIEWER)
    _, bob_key = await identity.create_api_key(bob.id, workspace_id, "bob's key")
    await identity.remove_member(workspace_id, bob.id)
    with pytest.raises(AuthenticationFailed, match="no longer a member of its workspace"):
        await identity.authenticate(bob_key)
    await set_user(database, user.id, is_active=False)
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        await identity.authenticate(key)


async def test_api_key_creation_checks_membership_name_and_expiry(identity: IdentityService) -> None:
    user, workspace_id, _, _ = await _member_with_key(identity)
    stranger = await sign_up(identity, "eve@example.com")
    with pytest.raises(Forbidden, match="not a member of this workspace"):
        await identity.create_api_key(stranger.id, workspace_id, "sneaky")
    with pytest.raises(InputInvalid, match="API key name"):
        await identity.create_api_key(user.id, workspace_id, "   ")
    with pytest.raises(InputInvalid, match="future, timezone-aware"):
        await identity.create_api_key(user.id, workspace_id, "late", expires_at=datetime.now(UTC) - timedelta(1))
    with pytest.raises(InputInvalid, match="future, timezone-aware"):
        await identity.create_api_key(user.id, workspace_id, "naive", expires_at=datetime(2999, 1, 1))
    assert len(await identity.list_api_keys(user.id)) == 1
    assert await identity.list_api_keys(stranger.id) == []


# -- two-factor -----------------------------------------------------------------------------


def _seed(uri: str) -> bytes:
    return decode_secret(parse_qs(urlsplit(uri).query)["secret"][0])


def _code(seed: bytes, offset: int = 0) -> str:
    return hotp(seed, time_step() + offset)


async def _with_totp(identity: IdentityService) -> tuple[User, bytes, int]:
    """An account with two-factor on, its seed, and the step whose code confirmed it (now spent)."""
    user = await sign_up(identity)
    seed = _seed(await identity.begin_totp(user.id))
    step = time_step()
    await identity.confirm_totp(user.id, hotp(seed, step))
    return user, seed, step


async def test_two_factor_is_set_up_with_a_confirming_code(identity: IdentityService, database: Database) -> None:
    user = await sign_up(identity)
    uri = await identity.begin_totp(user.id)
    assert uri.startswith("otpauth://totp/SynthralOS:ada@example.com?secret=")
    stored = (await user_row(database, user.id)).totp_secret
    assert parse_qs(urlsplit(uri).query)["secret"][0].encode() not in stored
    await identity.login("ada@example.com", PASSWORD)  # not on until confirmed
    with pytest.raises(AuthenticationFailed, match="code is wrong"):
        await identity.confirm_totp(user.id, "000000" if _code(_seed(uri)) != "000000" else "111111")
    await identity.confirm_totp(user.id, _code(_seed(uri)))
    assert (await user_row(database, user.id)).totp_enabled
    with pytest.raises(Conflict, match="on already"):
        await identity.begin_totp(user.id)
    with pytest.raises(Conflict, match="on already"):
        await identity.confirm_totp(user.id, _code(_seed(uri)))


async def test_confirming_without_a_begun_setup_is_a_conflict(identity: IdentityService) -> None:
    user = await sign_up(identity)
    with pytest.raises(Conflict, match="begin the setup first"):
        await identity.confirm_totp(user.id, "123456")
    with pytest.raises(Conflict, match="not on"):
        await identity.disable_totp(user.id, "123456")
    with pytest.raises(NotFound):
        await identity.begin_totp("nobody")


async def test_sign_in_with_two_factor_needs_a_fresh_code(identity: IdentityService) -> None:
    _, seed, step = await _with_totp(identity)
    with pytest.raises(MfaRequired, match="send the 6-digit code"):
        await identity.login("ada@example.com", PASSWORD)
    with pytest.raises(AuthenticationFailed, match="wrong or was used already") as caught:
        await identity.login("ada@example.com", PASSWORD, totp_code=hotp(seed, step))  # spent by the confirmation
    assert type(caught.value) is AuthenticationFailed
    pair = await identity.login("ada@example.com", PASSWORD, totp_code=hotp(seed, step + 1))
    assert isinstance(pair, TokenPair)
    with pytest.raises(AuthenticationFailed, match="used already"):
        await identity.login("ada@example.com", PASSWORD, totp_code=hotp(seed, step + 1))
    with pytest.raises(AuthenticationFailed, match="wrong email or password"):
        await identity.login("ada@example.com", "wrong password!", totp_code=hotp(seed, step + 1))


async def test_one_code_signs_in_once_even_when_sent_twice_at_once(database: Database) -> None:
    identity = make_service(database)
    _, seed, step = await _with_totp(identity)
    code = hotp(seed, step + 1)
    results = await asyncio.gather(
        identity.login("ada@example.com", PASSWORD, totp_code=code),
        identity.login("ada@example.com", PASSWORD, totp_code=code),
        return_exceptions=True,
    )
    assert sum(isinstance(result, TokenPair) for result in results) == 1
    assert sum(isinstance(result, AuthenticationFailed) for result in results) == 1


async def test_asking_for_the_code_counts_towards_the_lockout(database: Database) -> None:
    identity = make_service(database, max_failed_logins=2)
    _, seed, step = await _with_totp(identity)
    for _ in range(2):
        with pytest.raises(MfaRequired):
            await identity.login("ada@example.com", PASSWORD)
    with pytest.raises(RateLimited):
        await identity.login("ada@example.com", PASSWORD, totp_code=hotp(seed, step + 1))


async def test_wrong_codes_count_towards_the_lockout(database: Database) -> None:
    identity = make_service(database, max_failed_logins=2)
    _, seed, _ = await _with_totp(identity)
    wrong = next(
        c for c in ("000000", "111111", "222222", "333333") if c not in {_code(seed, o) for o in (-2, -1, 0, 1, 2)}
    )
    with pytest.raises(AuthenticationFailed):
        await identity.login("ada@example.com", PASSWORD, totp_code=wrong)
    with pytest.raises(RateLimited):
        await identity.login("ada@example.com", PASSWORD, totp_code=wrong)


async def test_two_factor_is_disabled_with_a_current_code(identity: IdentityService, database: Database) -> None:
    user, seed, step = await _with_totp(identity)
    with pytest.raises(AuthenticationFailed, match="used already"):
        await identity.disable_totp(user.id, hotp(seed, step))
    await identity.disable_totp(user.id, hotp(seed, step + 1))
    row = await user_row(database, user.id)
    assert not row.totp_enabled and row.totp_secret is None
    await identity.login("ada@example.com", PASSWORD)


async def test_a_totp_state_copied_to_another_account_does_not_open(
    identity: IdentityService, database: Database
) -> None:
    ada, seed, step = await _with_totp(identity)
    eve = await sign_up(identity, "eve@example.com")
    stolen = (await user_row(database, ada.id)).totp_secret
    await set_user(database, eve.id, totp_secret=stolen, totp_enabled=True)
    with pytest.raises(DecryptionFailed, match="altered or copied"):
        await identity.login("eve@example.com", PASSWORD, totp_code=hotp(seed, step + 1))


# -- local mode -----------------------------------------------------------------------------


async def test_the_local_principal_owns_the_local_workspace(identity: IdentityService) -> None:
    first, second = await asyncio.gather(identity.local_principal(), identity.local_principal())
    assert first == second == await identity.local_principal()
    assert first.method == "local" and first.email == "local@localhost" and first.workspace_id is not None
    assert await identity.role_in(first.user_id, first.workspace_id) == Role.OWNER
    assert [ws.slug for ws, _ in await identity.workspaces_of(first.user_id)] == ["local"]
    with pytest.raises(AuthenticationFailed, match="wrong email or password"):
        await identity.login("local@localhost", "")


async def test_the_local_user_is_made_owner_again_if_demoted(identity: IdentityService) -> None:
    local = await identity.local_principal()
    assert local.workspace_id is not None
    other = await sign_up(identity)
    await identity.add_member(local.workspace_id, other.id, Role.OWNER)
    await identity.set_role(local.workspace_id, local.user_id, Role.VIEWER)
    assert await identity.local_principal() == local
    assert await identity.role_in(local.user_id, local.workspace_id) == Role.OWNER
