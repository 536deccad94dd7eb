"""Identity: accounts, sign-in, tokens, API keys, workspaces and their members.

The same code runs on SQLite and PostgreSQL. Every decision that must hold under
concurrency is a conditional write checked by its row count (a refresh token is exchanged
by ``UPDATE ... WHERE rotated_at IS NULL``; a TOTP code is spent by replacing the sealed
TOTP state only if it is still the one that was read), and membership changes lock the
workspace row first, so two requests can never both win.

The TOTP state of a user (the seed and the last time step accepted, see
:class:`synthral.security.totp.TotpState`) is sealed with the key ring under the context
``totp:<user id>`` and kept in ``user_account.totp_secret``.
"""

from __future__ import annotations

import asyncio
import math
import re
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable

from synthral.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    Forbidden,
    InputInvalid,
    MfaRequired,
    NotFound,
    RateLimited,
)
from synthral.security.crypto import KeyRing
from synthral.security.passwords import Passwords, check_password_policy
from synthral.security.tokens import (
    AccessTokens,
    api_key_matches,
    api_key_prefix,
    hash_token,
    is_api_key,
    new_api_key,
    new_opaque_token,
)
from synthral.security.totp import TotpState, decode_secret, generate_secret, match_step, provisioning_uri
from synthral.services.accounts import ApiKey, Principal, TokenPair, User, Workspace
from synthral.store.db import Database
from synthral.store.tables import API_KEY, MEMBERSHIP, REFRESH_TOKEN, USER, WORKFLOW, WORKSPACE, Role, new_id, utcnow

__all__ = ["IdentityService", "normalise_email"]


LOCAL_EMAIL: Final = "local@localhost"
LOCAL_SLUG: Final = "local"
MAX_EMAIL_LENGTH: Final = 254
MAX_NAME_LENGTH: Final = 200
LAST_USED_PRECISION: Final = timedelta(minutes=1)

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_SLUG: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")

_BAD_LOGIN: Final = "wrong email or password; check both and try again"
_BAD_CODE: Final = "the two-factor code is wrong or was used already; wait for the next code and try again"


def normalise_email(email: str) -> str:
    """The stored form of an email: trimmed and lower-cased.

    Raises:
        InputInvalid: It is not of the form ``name@domain``.
    """
    text = email.strip().lower()
    if len(text) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(text):
        raise InputInvalid(
            f"email {email!r} is not an email address; give one of the form name@example.com "
            f"(at most {MAX_EMAIL_LENGTH} characters)",
            details={"field": "email"},
        )
    return text


def _check_role(role: str) -> None:
    if role not in Role.ALL:
        raise InputInvalid(
            f"role {role!r} is not a workspace role; use one of {', '.join(Role.ALL)}", details={"field": "role"}
        )


def _check_name(name: str, what: str) -> str:
    text = name.strip()
    if not text or len(text) > MAX_NAME_LENGTH:
        raise InputInvalid(
            f"the {what} name {name!r} must have 1 to {MAX_NAME_LENGTH} characters; give a short readable name",
            details={"field": "name"},
        )
    return text


class IdentityService:
    """Accounts, sign-in and access over one database.

    Args:
        database: The database holding accounts, workspaces and tokens.
        signing_key: The access token signing key (``synthral.security.tokens.load_signing_key``).
        keyring: Seals TOTP seeds at rest.
        access_ttl: How long an access token is valid.
        refresh_ttl: How long a refresh token is valid; every refresh issues a new one.
        max_failed_logins: Failed sign-ins in a row that lock the account.
        lockout: How long a locked account refuses sign-ins.
        passwords: The password hasher (argon2id with the default cost when omitted).

    Raises:
        ConfigurationError: The signing key is shorter than 32 bytes, or a limit is not positive.
    """

    def __init__(
        self,
        database: Database,
        *,
        signing_key: bytes,
        keyring: KeyRing,
        access_ttl: timedelta = timedelta(minutes=30),
        refresh_ttl: timedelta = timedelta(days=14),
        max_failed_logins: int = 5,
        lockout: timedelta = timedelta(minutes=15),
        passwords: Passwords | None = None,
    ) -> None:
        if max_failed_logins < 1 or lockout <= timedelta(0) or refresh_ttl <= timedelta(0):
            raise ConfigurationError(
                "max_failed_logins, lockout and refresh_ttl must be positive; use for example 5, 15 minutes and 14 days"
            )
        self.database = database
        self._tokens = AccessTokens(signing_key, ttl=access_ttl)
        self._keyring = keyring
        self._passwords = passwords or Passwords()
        self.refresh_ttl = refresh_ttl
        self.max_failed_logins = max_failed_logins
        self.lockout = lockout

    # -- accounts and workspaces ---------------------------------------------------------

    async def create_user(self, email: str, password: str | None, *, display_name: str = "") -> User:
        """Create an account; ``password`` None makes one that signs in only through OIDC.

        Raises:
            InputInvalid: The email is malformed or the password breaks the policy.
            Conflict: An account with that email exists.
        """
        address = normalise_email(email)
        if address == LOCAL_EMAIL:
            raise InputInvalid(
                f"email {LOCAL_EMAIL!r} is reserved for the desktop's local user; use another email",
                details={"field": "email"},
            )
        password_hash = None
        if password is not None:
            check_password_policy(password)
            password_hash = await asyncio.to_thread(self._passwords.hash, password)
        values = _new_user(address, password_hash, display_name.strip())
        try:
            await self.database.write(lambda connection: connection.execute(insert(USER).values(values)))
        except IntegrityError as exc:
            raise Conflict(
                f"an account with email {address!r} exists already; sign in with it or use another email",
                details={"field": "email"},
            ) from exc
        return User.of(values)

    async def create_workspace(self, slug: str, name: str, *, owner_id: str) -> Workspace:
        """Create a workspace with ``owner_id`` as its first owner.

        Raises:
            InputInvalid: The slug or the name is malformed.
            NotFound: No such user.
            Conflict: The slug is taken.
        """
        if not _SLUG.fullmatch(slug):
            raise InputInvalid(
                f"workspace slug {slug!r} is not valid; use 2 to 63 lower-case letters, digits and dashes, "
                "starting with a letter or digit (e.g. 'acme-ops')",
                details={"field": "slug"},
            )
        values: dict[str, Any] = {
            "id": new_id(),
            "slug": slug,
            "name": _check_name(name, "workspace"),
            "created_at": utcnow(),
        }

        def create(connection: Connection) -> None:
            _require_user(connection, owner_id)
            connection.execute(insert(WORKSPACE).values(values))
            connection.execute(
                insert(MEMBERSHIP).values(id=new_id(), workspace_id=values["id"], user_id=owner_id, role=Role.OWNER)
            )

        try:
            await self.database.write(create)
        except IntegrityError as exc:
            raise Conflict(f"workspace slug {slug!r} is taken; choose another", details={"field": "slug"}) from exc
        return Workspace.of(values)

    async def add_member(self, workspace_id: str, user_id: str, role: str) -> None:
        """Make ``user_id`` a member of the workspace with ``role``.

        Raises:
            InputInvalid: Unknown role.
            NotFound: No such workspace or user.
            Conflict: They are a member already (change their role with :meth:`set_role`).
        """
        _check_role(role)

        def add(connection: Connection) -> None:
            _lock_workspace(connection, workspace_id)
            _require_user(connection, user_id)
            connection.execute(
                insert(MEMBERSHIP).values(id=new_id(), workspace_id=workspace_id, user_id=user_id, role=role)
            )

        try:
            await self.database.write(add)
        except IntegrityError as exc:
            raise Conflict("the user is a member of this workspace already; change their role instead") from exc

    async def set_role(self, workspace_id: str, user_id: str, role: str) -> None:
        """Change a member's role.

        Raises:
            InputInvalid: Unknown role.
            NotFound: No such workspace, or the user is not a member.
            Conflict: It would demote the workspace's last owner.
        """
        _check_role(role)

        def change(connection: Connection) -> None:
            current = _member_role(connection, workspace_id, user_id)
            if current == Role.OWNER and role != Role.OWNER:
                _keep_an_owner(connection, workspace_id, "demoted")
            connection.execute(
                update(MEMBERSHIP)
                .where(MEMBERSHIP.c.workspace_id == workspace_id, MEMBERSHIP.c.user_id == user_id)
                .values(role=role)
            )

        await self.database.write(change)

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        """Remove a member from a workspace.

        Raises:
            NotFound: No such workspace, or the user is not a member.
            Conflict: They are the workspace's last owner.
        """

        def remove(connection: Connection) -> None:
            if _member_role(connection, workspace_id, user_id) == Role.OWNER:
                _keep_an_owner(connection, workspace_id, "removed")
            connection.execute(
                delete(MEMBERSHIP).where(MEMBERSHIP.c.workspace_id == workspace_id, MEMBERSHIP.c.user_id == user_id)
            )

        await self.database.write(remove)

    async def role_in(self, user_id: str, workspace_id: str) -> str | None:
        """The user's role in the workspace, or None when they are not a member."""
        rows = await self._read(
            select(MEMBERSHIP.c.role).where(MEMBERSHIP.c.user_id == user_id, MEMBERSHIP.c.workspace_id == workspace_id)
        )
        return str(rows[0].role) if rows else None

    async def workspaces_of(self, user_id: str) -> list[tuple[Workspace, str]]:
        """Every workspace the user is a member of, with their role, by slug."""
        rows = await self._read(
            select(WORKSPACE, MEMBERSHIP.c.role)
            .join(MEMBERSHIP, MEMBERSHIP.c.workspace_id == WORKSPACE.c.id)
            .where(MEMBERSHIP.c.user_id == user_id)
            .order_by(WORKSPACE.c.slug)
        )
        return [(Workspace.of(row), str(row.role)) for row in rows]

    async def user_id_by_email(self, email: str) -> str | None:
        """The id of the account with that email (compared normalised), or None.

        Raises:
            InputInvalid: The email is malformed.
        """
        rows = await self._read(select(USER.c.id).where(USER.c.email == normalise_email(email)))
        return str(rows[0].id) if rows else None

    async def workspace_by_slug(self, slug: str) -> Workspace | None:
        """The workspace with that slug, or None."""
        rows = await self._read(select(WORKSPACE).where(WORKSPACE.c.slug == slug))
        return Workspace.of(rows[0]) if rows else None

    async def local_principal(self) -> Principal:
        """The implicit user of the desktop: ``local@localhost``, owner of the workspace ``local``.

        Both are created on first use (without a password: nobody can sign in as them).
        """
        found = await self._read(
            select(USER.c.id, WORKSPACE.c.id.label("workspace_id"))
            .join(MEMBERSHIP, MEMBERSHIP.c.user_id == USER.c.id)
            .join(WORKSPACE, WORKSPACE.c.id == MEMBERSHIP.c.workspace_id)
            .where(USER.c.email == LOCAL_EMAIL, WORKSPACE.c.slug == LOCAL_SLUG, MEMBERSHIP.c.role == Role.OWNER)
        )
        if found:
            return Principal(found[0].id, LOCAL_EMAIL, "local", found[0].workspace_id)
        user = _new_user(LOCAL_EMAIL, None, "Local user")
        workspace = {"id": new_id(), "slug": LOCAL_SLUG, "name": "Local", "created_at": utcnow()}
        insert_into = self.database.insert

        def ensure(connection: Connection) -> tuple[str, str]:
            connection.execute(insert_into(USER).values(user).on_conflict_do_nothing(index_elements=["email"]))
            user_id = connection.execute(select(USER.c.id).where(USER.c.email == LOCAL_EMAIL)).scalar_one()
            connection.execute(insert_into(WORKSPACE).values(workspace).on_conflict_do_nothing(index_elements=["slug"]))
            workspace_id = connection.execute(select(WORKSPACE.c.id).where(WORKSPACE.c.slug == LOCAL_SLUG)).scalar_one()
            membership = insert_into(MEMBERSHIP).values(
                id=new_id(), workspace_id=workspace_id, user_id=user_id, role=Role.OWNER
            )
            connection.execute(
                membership.on_conflict_do_update(index_elements=["workspace_id", "user_id"], set_={"role": Role.OWNER})
            )
            return str(user_id), str(workspace_id)

        user_id, workspace_id = await self.database.write(ensure)
        return Principal(user_id, LOCAL_EMAIL, "local", workspace_id)

    # -- sign-in and tokens ----------------------------------------------------------------

    async def login(self, email: str, password: str, *, totp_code: str | None = None) -> TokenPair:
        """Sign in with email and password (and the TOTP code when two-factor is on).

        Raises:
            AuthenticationFailed: Unknown email, wrong password or deactivated account (one
                message for all three), or a wrong or reused TOTP code.
            MfaRequired: The password is right and the account needs its TOTP code (this
                counts as an attempt towards the lock, like a failure, until a sign-in succeeds).
            RateLimited: The account is locked after too many failures;
                ``details['retry_after']`` is the wait in seconds.
        """
        try:
            address = normalise_email(email)
        except InputInvalid:
            address = None
        rows = await self._read(select(USER).where(USER.c.email == address)) if address else []
        if not rows or rows[0].password_hash is None:
            await asyncio.to_thread(self._passwords.verify_dummy, password)
            raise AuthenticationFailed(_BAD_LOGIN)
        user = dict(rows[0]._mapping)  # noqa: SLF001 -- SQLAlchemy's row mapping
        await self._count_attempt(user["id"], starting=True)
        right = await asyncio.to_thread(self._passwords.verify, user["password_hash"], password)
        if not right or not user["is_active"]:
            await self._count_attempt(user["id"], starting=False)
            raise AuthenticationFailed(_BAD_LOGIN)
        totp_swap = await self._second_factor(user, totp_code) if user["totp_enabled"] else None
        new_hash = None
        if self._passwords.needs_rehash(user["password_hash"]):
            new_hash = await asyncio.to_thread(self._passwords.hash, password)
        refresh_token = new_opaque_token()
        refresh_row = self._refresh_row(user["id"], new_id(), refresh_token)

        def succeed(connection: Connection) -> bool:
            if totp_swap is not None and not _swap_totp(connection, user["id"], *totp_swap):
                return False
            values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
            if new_hash is not None:
                values["password_hash"] = new_hash
            connection.execute(update(USER).where(USER.c.id == user["id"]).values(values))
            connection.execute(insert(REFRESH_TOKEN).values(refresh_row))
            return True

        if not await self.database.write(succeed):
            await self._count_attempt(user["id"], starting=False)
            raise AuthenticationFailed(_BAD_CODE)
        return self._pair(user["id"], refresh_token)

    async def issue_tokens(self, user_id: str) -> TokenPair:
        """Sign in a user who proved who they are another way (single sign-on): a new token pair.

        Neither the password nor the TOTP code is asked: the identity provider vouched for them.

        Raises:
            AuthenticationFailed: No such user, or the account is deactivated.
        """
        refresh_token = new_opaque_token()
        refresh_row = self._refresh_row(user_id, new_id(), refresh_token)

        def issue(connection: Connection) -> bool:
            if not connection.execute(select(USER.c.is_active).where(USER.c.id == user_id)).scalar():
                return False
            connection.execute(insert(REFRESH_TOKEN).values(refresh_row))
            return True

        if not await self.database.write(issue):
            raise AuthenticationFailed("the account is deactivated or gone; ask a workspace owner")
        return self._pair(user_id, refresh_token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair; the presented token is spent.

        A token presented a second time (stolen, or replayed) revokes every token of its
        sign-in. Of two concurrent refreshes of one token, exactly one succeeds, and the
        other counts as a reuse: clients must not refresh one token in parallel.

        Raises:
            AuthenticationFailed: The token is unknown, expired, revoked, reused, or its
                account is deactivated.
        """
        digest = hash_token(refresh_token)
        new_token = new_opaque_token()
        now = utcnow()

        def rotate(connection: Connection) -> tuple[str, str]:
            found = connection.execute(select(REFRESH_TOKEN).where(REFRESH_TOKEN.c.token_hash == digest)).first()
            if found is None:
                return "unknown", ""
            token = dict(found._mapping)  # noqa: SLF001 -- SQLAlchemy's row mapping
            if token["revoked_at"] is not None:
                return "revoked", ""
            if token["rotated_at"] is not None:
                _revoke_family(connection, token["family_id"], now)
                return "reused", ""
            if token["expires_at"] <= now:
                return "expired", ""
            active = connection.execute(select(USER.c.is_active).where(USER.c.id == token["user_id"])).scalar()
            if not active:
                return "inactive", ""
            spent = connection.execute(
                update(REFRESH_TOKEN)
                .where(
                    REFRESH_TOKEN.c.id == token["id"],
                    REFRESH_TOKEN.c.rotated_at.is_(None),
                    REFRESH_TOKEN.c.revoked_at.is_(None),
                )
                .values(rotated_at=now)
            )
            if spent.rowcount != 1:
                _revoke_family(connection, token["family_id"], now)
                return "reused", ""
            connection.execute(
                insert(REFRESH_TOKEN).values(self._refresh_row(token["user_id"], token["family_id"], new_token))
            )
            return "ok", str(token["user_id"])

        outcome, user_id = await self.database.write(rotate)
        if outcome != "ok":
            raise AuthenticationFailed(_REFRESH_FAILURES[outcome], details={"reason": outcome})
        return self._pair(user_id, new_token)

    async def logout(self, refresh_token: str) -> None:
        """Revoke every token of the sign-in ``refresh_token`` belongs to (idempotent).

        Raises:
            AuthenticationFailed: The token was never issued here.
        """
        digest = hash_token(refresh_token)
        now = utcnow()

        def revoke(connection: Connection) -> bool:
            family = connection.execute(
                select(REFRESH_TOKEN.c.family_id).where(REFRESH_TOKEN.c.token_hash == digest)
            ).scalar()
            if family is None:
                return False
            _revoke_family(connection, family, now)
            return True

        if not await self.database.write(revoke):
            raise AuthenticationFailed(_REFRESH_FAILURES["unknown"], details={"reason": "unknown"})

    async def authenticate(self, token: str) -> Principal:
        """Who a bearer token (an access token or an API key ``syn_...``) acts as.

        Raises:
            AuthenticationFailed: The token is not valid, or its account is deactivated.
        """
        if is_api_key(token):
            return await self._authenticate_api_key(token)
        claims = self._tokens.decode(token)
        rows = await self._read(select(USER.c.email, USER.c.is_active).where(USER.c.id == claims.subject))
        if not rows or not rows[0].is_active:
            raise AuthenticationFailed("the account of this token is deactivated or gone; sign in again")
        return Principal(claims.subject, str(rows[0].email), "token")

    # -- API keys --------------------------------------------------------------------------

    async def create_api_key(
        self,
        user_id: str,
        workspace_id: str,
        name: str,
        *,
        expires_at: datetime | None = None,
        workflow_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Make an API key acting as ``user_id`` in one workspace; the key is returned only now.

        With ``workflow_id`` the key is scoped to that workflow: it may only use the chat
        copilot, on that workflow (what an embedded chat widget holds).

        Raises:
            InputInvalid: The name is empty or too long, or ``expires_at`` is naive or past.
            Forbidden: The user is not a member of the workspace.
            NotFound: ``workflow_id`` is not a workflow of the workspace.
        """
        label = _check_name(name, "API key")
        if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
            raise InputInvalid(
                f"expires_at {expires_at.isoformat()} must be a future, timezone-aware time (e.g. 2030-01-01T00:00Z)",
                details={"field": "expires_at"},
            )
        if await self.role_in(user_id, workspace_id) is None:
            raise Forbidden(
                "the user is not a member of this workspace; an API key acts in a workspace its user belongs to",
                details={"workspace_id": workspace_id},
            )
        if workflow_id is not None:
            found = await self._read(
                select(WORKFLOW.c.id).where(WORKFLOW.c.id == workflow_id, WORKFLOW.c.workspace_id == workspace_id)
            )
            if not found:
                raise NotFound(
                    f"no workflow {workflow_id!r} in this workspace to scope the key to; use a workflow's id",
                    details={"workflow_id": workflow_id},
                )
        made = new_api_key()
        values: dict[str, Any] = {
            "id": new_id(),
            "user_id": user_id,
            "workspace_id": workspace_id,
            "name": label,
            "prefix": made.prefix,
            "key_hash": made.key_hash,
            "created_at": utcnow(),
            "expires_at": expires_at,
            "last_used_at": None,
            "revoked_at": None,
            "workflow_id": workflow_id,
        }
        await self.database.write(lambda connection: connection.execute(insert(API_KEY).values(values)))
        return ApiKey.of(values), made.key

    async def list_api_keys(self, user_id: str) -> list[ApiKey]:
        """The user's API keys (revoked and expired ones too), oldest first."""
        rows = await self._read(
            select(API_KEY).where(API_KEY.c.user_id == user_id).order_by(API_KEY.c.created_at, API_KEY.c.id)
        )
        return [ApiKey.of(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, user_id: str) -> None:
        """Revoke one of the user's API keys (idempotent).

        Raises:
            NotFound: The user has no key with that id.
        """
        now = utcnow()

        def revoke(connection: Connection) -> int:
            mine = and_(API_KEY.c.id == key_id, API_KEY.c.user_id == user_id)
            connection.execute(update(API_KEY).where(mine, API_KEY.c.revoked_at.is_(None)).values(revoked_at=now))
            return len(connection.execute(select(API_KEY.c.id).where(mine)).all())

        if not await self.database.write(revoke):
            raise NotFound(f"no API key {key_id!r} of yours; list your keys to find its id", details={"key_id": key_id})

    # -- two-factor ------------------------------------------------------------------------

    async def begin_totp(self, user_id: str) -> str:
        """Start setting up two-factor sign-in; returns the ``otpauth://`` URI for the app.

        It takes effect once :meth:`confirm_totp` gets a code from the app. Beginning again
        before that replaces the pending seed.

        Raises:
            NotFound: No such user.
            Conflict: Two-factor sign-in is on already.
        """
        user = await self._user(user_id)
        if user["totp_enabled"]:
            raise Conflict("two-factor sign-in is on already; disable it (with a current code) to set it up again")
        secret = generate_secret()
        sealed = TotpState(secret).seal(self._keyring, _totp_context(user_id))
        pending = update(USER).where(USER.c.id == user_id, USER.c.totp_enabled.is_(False)).values(totp_secret=sealed)
        if await self.database.write(lambda connection: connection.execute(pending).rowcount) != 1:
            raise Conflict("two-factor sign-in was turned on meanwhile; disable it first to set it up again")
        return provisioning_uri(secret, user["email"])

    async def confirm_totp(self, user_id: str, code: str) -> None:
        """Turn two-factor sign-in on, given a current code of the seed from :meth:`begin_totp`.

        Raises:
            NotFound: No such user.
            Conflict: It is on already, or no setup was begun.
            AuthenticationFailed: The code is wrong.
        """
        user = await self._user(user_id)
        if user["totp_enabled"]:
            raise Conflict("two-factor sign-in is on already; nothing to confirm")
        if user["totp_secret"] is None:
            raise Conflict("no two-factor setup is pending; begin the setup first, then confirm it with a code")
        await self._spend_code(user, code, enable=True)

    async def disable_totp(self, user_id: str, code: str) -> None:
        """Turn two-factor sign-in off, given a current code.

        Raises:
            NotFound: No such user.
            Conflict: It is not on.
            AuthenticationFailed: The code is wrong or used already.
        """
        user = await self._user(user_id)
        if not user["totp_enabled"]:
            raise Conflict("two-factor sign-in is not on; nothing to disable")
        await self._spend_code(user, code, enable=False)

    # -- internals -------------------------------------------------------------------------

    async def _read(self, statement: Executable) -> list[Row[Any]]:
        async with self.database.engine.connect() as connection:
            return list((await connection.execute(statement)).all())

    async def _user(self, user_id: str) -> dict[str, Any]:
        rows = await self._read(select(USER).where(USER.c.id == user_id))
        if not rows:
            raise NotFound(f"no user {user_id!r}", details={"user_id": user_id})
        return dict(rows[0]._mapping)  # noqa: SLF001 -- SQLAlchemy's row mapping

    async def _count_attempt(self, user_id: str, *, starting: bool) -> None:
        # Attempts are counted when they start, before the password is checked, so concurrent
        # guesses cannot get more than max_failed_logins answers in before the lock; a failed
        # attempt that used up the allowance locks the account; a success resets the count.
        limit, lockout = self.max_failed_logins, self.lockout

        def count(connection: Connection) -> datetime | None:
            where = USER.c.id == user_id
            row = connection.execute(
                select(USER.c.failed_logins, USER.c.locked_until).where(where).with_for_update()
            ).one()
            now = utcnow()
            locked_until: datetime | None = row.locked_until
            if starting and locked_until is not None and locked_until > now:
                return locked_until
            if row.failed_logins >= limit:
                connection.execute(update(USER).where(where).values(failed_logins=0, locked_until=now + lockout))
                return now + lockout
            if starting:
                connection.execute(update(USER).where(where).values(failed_logins=USER.c.failed_logins + 1))
            return None

        until = await self.database.write(count)
        if until is not None:
            raise _locked(until, utcnow())

    async def _second_factor(self, user: dict[str, Any], code: str | None) -> tuple[bytes, bytes]:
        """Check the TOTP code of a sign-in; returns the sealed state to swap in when it succeeds."""
        if code is None:
            raise MfaRequired(
                "this account uses two-factor sign-in; send the 6-digit code of the authenticator app as totp_code"
            )
        context = _totp_context(user["id"])
        state = TotpState.open(user["totp_secret"], self._keyring, context)
        step = match_step(decode_secret(state.secret), code, after_step=state.last_step)
        if step is None:
            await self._count_attempt(user["id"], starting=False)
            raise AuthenticationFailed(_BAD_CODE)
        return user["totp_secret"], TotpState(state.secret, step).seal(self._keyring, context)

    async def _authenticate_api_key(self, key: str) -> Principal:
        prefix = api_key_prefix(key)
        rows = await self._read(
            select(API_KEY, USER.c.email, USER.c.is_active, MEMBERSHIP.c.role)
            .join(USER, USER.c.id == API_KEY.c.user_id)
            .outerjoin(
                MEMBERSHIP,
                and_(MEMBERSHIP.c.workspace_id == API_KEY.c.workspace_id, MEMBERSHIP.c.user_id == API_KEY.c.user_id),
            )
            .where(API_KEY.c.prefix == prefix)
        )
        if not rows or not api_key_matches(key, rows[0].key_hash):
            raise AuthenticationFailed("the API key is not valid; check that it was copied whole, or create a new one")
        found = dict(rows[0]._mapping)  # noqa: SLF001 -- SQLAlchemy's row mapping
        now = utcnow()
        if found["revoked_at"] is not None:
            raise AuthenticationFailed("the API key was revoked; create a new one")
        if found["expires_at"] is not None and found["expires_at"] <= now:
            raise AuthenticationFailed(f"the API key expired at {found['expires_at'].isoformat()}; create a new one")
        if not found["is_active"]:
            raise AuthenticationFailed("the account of this API key is deactivated; ask a workspace owner")
        if found["role"] is None:
            raise AuthenticationFailed(
                "the user of this API key is no longer a member of its workspace; ask an owner to add them back"
            )
        if found["last_used_at"] is None or now - found["last_used_at"] >= LAST_USED_PRECISION:
            stale = or_(API_KEY.c.last_used_at.is_(None), API_KEY.c.last_used_at <= now - LAST_USED_PRECISION)
            touch = update(API_KEY).where(API_KEY.c.id == found["id"], stale).values(last_used_at=now)
            await self.database.write(lambda connection: connection.execute(touch))
        return Principal(found["user_id"], found["email"], "api_key", found["workspace_id"], found["workflow_id"])

    def _pair(self, user_id: str, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self._tokens.issue(user_id),
            refresh_token=refresh_token,
            expires_in=int(self._tokens.ttl.total_seconds()),
        )

    def _refresh_row(self, user_id: str, family_id: str, token: str) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": new_id(),
            "user_id": user_id,
            "family_id": family_id,
            "token_hash": hash_token(token),
            "issued_at": now,
            "expires_at": now + self.refresh_ttl,
            "rotated_at": None,
            "revoked_at": None,
        }

    async def _spend_code(self, user: dict[str, Any], code: str, *, enable: bool) -> None:
        state = TotpState.open(user["totp_secret"], self._keyring, _totp_context(user["id"]))
        step = match_step(decode_secret(state.secret), code, after_step=state.last_step)
        if step is None:
            raise AuthenticationFailed(_BAD_CODE)
        replacement = TotpState(state.secret, step).seal(self._keyring, _totp_context(user["id"])) if enable else None

        def spend(connection: Connection) -> bool:
            return _swap_totp(connection, user["id"], user["totp_secret"], replacement, totp_enabled=enable)

        if not await self.database.write(spend):
            raise AuthenticationFailed(_BAD_CODE)


_REFRESH_FAILURES: Final = {
    "unknown": "the refresh token is not valid; sign in again",
    "revoked": "the refresh token was revoked (signed out); sign in again",
    "reused": "refresh token reused; sign in again (every token of that sign-in is now revoked, in case it was stolen)",
    "expired": "the refresh token has expired; sign in again",
    "inactive": "the account is deactivated; ask a workspace owner",
}


def _totp_context(user_id: str) -> str:
    return f"totp:{user_id}"


def _locked(until: datetime, now: datetime) -> RateLimited:
    wait = max(1, math.ceil((until - now).total_seconds()))
    return RateLimited(
        f"too many failed sign-ins: the account is locked; try again in {wait} seconds",
        details={"retry_after": wait},
    )


def _new_user(email: str, password_hash: str | None, display_name: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "email": email,
        "display_name": display_name,
        "password_hash": password_hash,
        "totp_secret": None,
        "totp_enabled": False,
        "oidc_subject": None,
        "is_active": True,
        "failed_logins": 0,
        "locked_until": None,
        "created_at": utcnow(),
    }


def _require_user(connection: Connection, user_id: str) -> None:
    if connection.execute(select(USER.c.id).where(USER.c.id == user_id)).first() is None:
        raise NotFound(f"no user {user_id!r}", details={"user_id": user_id})


def _lock_workspace(connection: Connection, workspace_id: str) -> None:
    # Membership changes of one workspace take turns, so two can never remove its last two owners.
    locked = connection.execute(select(WORKSPACE.c.id).where(WORKSPACE.c.id == workspace_id).with_for_update())
    if locked.first() is None:
        raise NotFound(f"no workspace {workspace_id!r}", details={"workspace_id": workspace_id})


def _member_role(connection: Connection, workspace_id: str, user_id: str) -> str:
    _lock_workspace(connection, workspace_id)
    role = connection.execute(
        select(MEMBERSHIP.c.role).where(MEMBERSHIP.c.workspace_id == workspace_id, MEMBERSHIP.c.user_id == user_id)
    ).scalar()
    if role is None:
        raise NotFound(
            "the user is not a member of this workspace", details={"workspace_id": workspace_id, "user_id": user_id}
        )
    return str(role)


def _keep_an_owner(connection: Connection, workspace_id: str, change: str) -> None:
    owners = connection.execute(
        select(func.count())
        .select_from(MEMBERSHIP)
        .where(MEMBERSHIP.c.workspace_id == workspace_id, MEMBERSHIP.c.role == Role.OWNER)
    ).scalar_one()
    if owners <= 1:
        raise Conflict(
            f"the last owner of a workspace cannot be {change}; make another member owner first",
            details={"workspace_id": workspace_id},
        )


def _revoke_family(connection: Connection, family_id: str, now: datetime) -> None:
    connection.execute(
        update(REFRESH_TOKEN)
        .where(REFRESH_TOKEN.c.family_id == family_id, REFRESH_TOKEN.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _swap_totp(
    connection: Connection, user_id: str, expected: bytes, replacement: bytes | None, *, totp_enabled: bool = True
) -> bool:
    # Spends a code: succeeds only if nobody replaced the state since it was read.
    swapped = connection.execute(
        update(USER)
        .where(USER.c.id == user_id, USER.c.totp_secret == expected)
        .values(totp_secret=replacement, totp_enabled=totp_enabled)
    )
    return swapped.rowcount == 1
