"""Credentials: secrets of a workspace, sealed at rest, opened only to hand them to a step.

Every value is JSON-encoded, then sealed with AES-256-GCM under the key ring (see
:mod:`synthral.security.crypto`) and bound to ``credential:<workspace>:<name>``, so a
ciphertext copied onto another row fails to open. Views (:class:`CredentialView`) never
carry the value; :meth:`CredentialService.values` is for the engine only.
"""

from __future__ import annotations

import builtins
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection, Row

from synthral.config import CREDENTIAL_KIND_PREFIX, variable_key
from synthral.engine.runtime import SecretResolver
from synthral.errors import ConfigurationError, DecryptionFailed, InputInvalid, NotFound, SecretKeyMissing
from synthral.security.crypto import KeyRing, Sealed
from synthral.security.redact import MIN_SECRET_LENGTH, strings_in
from synthral.store.db import Database
from synthral.store.tables import CREDENTIAL, WORKSPACE, new_id, utcnow

__all__ = ["CredentialSecretResolver", "CredentialService", "CredentialView", "StepSecretKinds", "credential_context"]

log = logging.getLogger("synthral.secrets")

NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")
KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
MASK: Final = "••••••••"
SHOW_TAIL_FROM: Final = 16
"""Values at least this long show their last four characters in views; shorter ones show none."""
ROTATE_BATCH: Final = 200
_SECRET_FIELD = re.compile(r"(token|secret|password|passphrase|key)$|^(key|api_?key|private_?key)", re.IGNORECASE)
_RESEAL = (
    update(CREDENTIAL)
    .where(
        CREDENTIAL.c.id == bindparam("b_id"),
        CREDENTIAL.c.key_id == bindparam("b_old_key_id"),
        CREDENTIAL.c.nonce == bindparam("b_old_nonce"),
    )
    .values(
        key_id=bindparam("b_key_id"),
        nonce=bindparam("b_nonce"),
        ciphertext=bindparam("b_ciphertext"),
        updated_at=bindparam("b_updated_at"),
    )
)


def credential_context(workspace_id: str, name: str) -> str:
    """What a credential's ciphertext is bound to: its workspace and name."""
    return f"credential:{workspace_id}:{name}"


@dataclass(frozen=True)
class CredentialView:
    """What may be shown of a credential: never its value.

    Attributes:
        id: The credential's id.
        name: What nodes ask for (``secrets: [name]``).
        kind: ``secret``, ``oauth2``, ``api_key``, ``basic``...
        meta: What may be shown: connector, scopes, expiry.
        key_id: The id of the key that sealed it (rotation moves it to the primary key).
        created_at: When it was first stored.
        updated_at: When it was last written or re-sealed.
        masked: Dots, plus the last four characters of a text value of 16 characters or more.
    """

    id: str
    name: str
    kind: str
    meta: dict[str, Any]
    key_id: str
    created_at: datetime
    updated_at: datetime
    masked: str


def _mask(value: str | dict[str, Any]) -> str:
    if isinstance(value, str) and len(value) >= SHOW_TAIL_FROM:
        return MASK + value[-4:]
    return MASK


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InputInvalid(
            f"credential name {name!r} is not valid; use 1 to 128 letters, digits, '_', '.' or '-' "
            "(e.g. 'stripe_api_key')",
            details={"field": "name"},
        )
    return name


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND.fullmatch(kind):
        raise InputInvalid(
            f"credential kind {kind!r} is not valid; use a short lower-case word such as 'secret', 'oauth2', "
            "'api_key' or 'basic'",
            details={"field": "kind"},
        )
    return kind


def _encode(value: object) -> bytes:
    """The value as JSON bytes, the form that is sealed."""
    if not isinstance(value, str | dict):
        raise InputInvalid(
            f"a credential value must be a string or a JSON object, not {type(value).__name__}; "
            'e.g. "sk_live_..." or {"username": "...", "password": "..."}',
            details={"field": "value"},
        )
    if not value:
        raise InputInvalid(
            "the credential value is empty; pass the secret itself (delete the credential to remove it)",
            details={"field": "value"},
        )
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise InputInvalid(
            f"the credential value is not JSON ({exc}); use strings, numbers, booleans, lists and objects "
            "with string keys",
            details={"field": "value"},
        ) from None


def _secret_strings(value: str | dict[str, Any]) -> list[str]:
    """The parts of a value that must never be shown: the value, and secret-named fields of an object."""
    if isinstance(value, str):
        return [value]
    found = [orjson.dumps(value).decode()]
    pending: list[tuple[str, Any]] = list(value.items())
    while pending:
        key, item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.items())
        elif isinstance(item, list):
            pending.extend((key, inner) for inner in item)
        elif isinstance(item, str) and _SECRET_FIELD.search(key):
            found.append(item)
    return found


def _check_meta(meta: object, value: str | dict[str, Any]) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InputInvalid(
            f"credential meta must be a JSON object, not {type(meta).__name__}; e.g. "
            '{"connector": "stripe", "scopes": ["read"]}',
            details={"field": "meta"},
        )
    try:
        encoded = orjson.dumps(meta)
    except TypeError as exc:
        raise InputInvalid(
            f"credential meta is not JSON ({exc}); use strings, numbers, booleans, lists and objects",
            details={"field": "meta"},
        ) from None
    hidden = [secret for secret in _secret_strings(value) if len(secret) >= MIN_SECRET_LENGTH]
    if any(secret in text for text in strings_in(meta) for secret in hidden):
        raise InputInvalid(
            "credential meta contains the credential's value; meta is shown to everyone who may see the "
            "credential, so keep the secret in the value only",
            details={"field": "meta"},
        )
    decoded: dict[str, Any] = orjson.loads(encoded)
    return decoded


def _reseal(changes: list[dict[str, Any]], connection: Connection) -> int:
    """Apply re-sealed values, each only to a row still as it was read; return how many applied."""
    return sum(connection.execute(_RESEAL, change).rowcount for change in changes)


def _missing_workspace(workspace_id: str) -> NotFound:
    return NotFound(
        f"no workspace {workspace_id!r}; create the workspace first, or check the id",
        details={"workspace_id": workspace_id},
    )


def _missing_credential(workspace_id: str, name: str) -> NotFound:
    return NotFound(
        f"no credential named {name!r} in this workspace; store it first (put), or check the name",
        details={"workspace_id": workspace_id, "credential": name},
    )


class CredentialService:
    """The credentials of every workspace, sealed under one key ring.

    Args:
        database: Where the sealed rows live.
        keyring: Seals with its primary key; opens with any of its keys.
    """

    def __init__(self, database: Database, keyring: KeyRing) -> None:
        self.database = database
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"CredentialService(primary key {self.keyring.primary})"

    async def put(
        self,
        workspace_id: str,
        name: str,
        value: str | dict[str, Any],
        *,
        kind: str = "secret",
        meta: dict[str, Any] | None = None,
    ) -> CredentialView:
        """Store a credential, replacing the value of one of that name (its id and creation time stay).

        Args:
            workspace_id: The workspace it belongs to.
            name: What nodes ask for; 1 to 128 letters, digits, ``_``, ``.`` or ``-``.
            value: The secret: a string, or a JSON object (e.g. OAuth tokens).
            kind: What sort of credential it is (``secret``, ``oauth2``, ``api_key``, ``basic``...).
            meta: What may be shown (connector, scopes, expiry); must not contain the value.

        Raises:
            InputInvalid: The name, kind, value or meta is not acceptable (the message says why).
            NotFound: There is no such workspace.
        """
        _check_name(name)
        _check_kind(kind)
        plaintext = _encode(value)
        shown = _check_meta(meta, value)
        sealed = self.keyring.seal(plaintext, credential_context(workspace_id, name))
        now = utcnow()
        base = self.database.insert(CREDENTIAL)
        statement = (
            base.values(
                id=new_id(),
                workspace_id=workspace_id,
                name=name,
                kind=kind,
                key_id=sealed.key_id,
                nonce=sealed.nonce,
                ciphertext=sealed.ciphertext,
                meta=shown,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=["workspace_id", "name"],
                set_={
                    column: base.excluded[column]
                    for column in ("kind", "key_id", "nonce", "ciphertext", "meta", "updated_at")
                },
            )
            .returning(CREDENTIAL.c.id, CREDENTIAL.c.created_at)
        )

        def write(connection: Connection) -> tuple[str, datetime]:
            exists = connection.execute(select(WORKSPACE.c.id).where(WORKSPACE.c.id == workspace_id)).first()
            if exists is None:
                raise _missing_workspace(workspace_id)
            credential_id, created_at = connection.execute(statement).one()
            return credential_id, created_at

        credential_id, created_at = await self.database.write(write)
        log.info("credential %r of workspace %s stored (key %s)", name, workspace_id, sealed.key_id)
        return CredentialView(
            id=credential_id,
            name=name,
            kind=kind,
            meta=shown,
            key_id=sealed.key_id,
            created_at=created_at,
            updated_at=now,
            masked=_mask(value),
        )

    async def get_value(self, workspace_id: str, name: str) -> str | dict[str, Any]:
        """A credential's value.

        Raises:
            NotFound: No credential of that name in the workspace.
            DecryptionFailed: The stored value was altered or copied from another credential.
            SecretKeyMissing: It was sealed with a key the ring no longer has.
        """
        return self._open(await self._row(workspace_id, name))

    async def kinds(self, workspace_id: str | None, names: builtins.list[str]) -> dict[str, str]:
        """The kind of each named credential of ``workspace_id`` that exists (none outside a workspace)."""
        if workspace_id is None or not names:
            return {}
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(CREDENTIAL.c.name, CREDENTIAL.c.kind).where(
                    CREDENTIAL.c.workspace_id == workspace_id, CREDENTIAL.c.name.in_(set(names))
                )
            )
            return {row.name: row.kind for row in rows}

    async def kinds_for_step(self, names: builtins.list[str], workspace_id: str | None) -> dict[str, str]:
        """:meth:`kinds` in the engine's order (:data:`synthral.engine.runtime.SecretKinds`)."""
        return await self.kinds(workspace_id, names)

    async def values(self, workspace_id: str, names: builtins.list[str]) -> dict[str, str]:
        """The values of the named credentials, as handed to a step: objects JSON-encoded.

        Only the named credentials are read and opened.

        Raises:
            ConfigurationError: A named credential does not exist (the message names it and how to create it).
            DecryptionFailed: A stored value was altered or copied from another credential.
        """
        if not names:
            return {}
        async with self.database.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(CREDENTIAL).where(
                        CREDENTIAL.c.workspace_id == workspace_id, CREDENTIAL.c.name.in_(set(names))
                    )
                )
            ).all()
        by_name = {row.name: row for row in rows}
        missing = [name for name in names if name not in by_name]
        if missing:
            listed = ", ".join(repr(name) for name in missing)
            what = f"secret {listed} is" if len(missing) == 1 else f"secrets {listed} are"
            raise ConfigurationError(
                f"{what} not stored in this workspace; create a credential of that name in the workspace "
                "(its credentials, in the web app or through the API), or remove it from the node's 'secrets'",
                details={"secret": missing[0], "missing": list(missing), "workspace_id": workspace_id},
            )
        resolved: dict[str, str] = {}
        for name in names:
            value = self._open(by_name[name])
            resolved[name] = value if isinstance(value, str) else orjson.dumps(value).decode()
        return resolved

    async def view(self, workspace_id: str, name: str) -> CredentialView:
        """What may be shown of one credential.

        Raises:
            NotFound: No credential of that name in the workspace.
        """
        return self._view(await self._row(workspace_id, name))

    async def delete(self, workspace_id: str, name: str) -> None:
        """Delete a credential.

        Raises:
            NotFound: No credential of that name in the workspace.
        """
        statement = delete(CREDENTIAL).where(CREDENTIAL.c.workspace_id == workspace_id, CREDENTIAL.c.name == name)
        deleted = await self.database.write(lambda connection: connection.execute(statement).rowcount)
        if not deleted:
            raise _missing_credential(workspace_id, name)
        log.info("credential %r of workspace %s deleted", name, workspace_id)

    async def rotate(self, *, batch_size: int = ROTATE_BATCH) -> int:
        """Re-seal under the primary key every credential sealed with another key; return how many.

        Rows are read and re-sealed in batches. Each row is updated only if it did not change
        meanwhile (same key id and nonce): a value stored concurrently is already sealed with
        a current key and is left as it is. Values stay readable throughout, as long as the
        old keys stay in the ring; retire them only once this returns.

        Raises:
            SecretKeyMissing: A credential was sealed with a key the ring lacks (add it back first).
            DecryptionFailed: A stored value was altered (the message names it; store it again).
        """
        primary = self.keyring.primary
        after = ""
        resealed = 0
        while True:
            async with self.database.engine.connect() as connection:
                rows = (
                    await connection.execute(
                        select(CREDENTIAL)
                        .where(CREDENTIAL.c.key_id != primary, CREDENTIAL.c.id > after)
                        .order_by(CREDENTIAL.c.id)
                        .limit(batch_size)
                    )
                ).all()
            if not rows:
                break
            after = rows[-1].id
            now = utcnow()
            changes = []
            for row in rows:
                sealed = self.keyring.seal(self._open_bytes(row), credential_context(row.workspace_id, row.name))
                changes.append(
                    {
                        "b_id": row.id,
                        "b_old_key_id": row.key_id,
                        "b_old_nonce": row.nonce,
                        "b_key_id": sealed.key_id,
                        "b_nonce": sealed.nonce,
                        "b_ciphertext": sealed.ciphertext,
                        "b_updated_at": now,
                    }
                )

            resealed += await self.database.write(functools.partial(_reseal, changes))
        log.info("credentials re-sealed under key %s: %d", primary, resealed)
        return resealed

    async def list(self, workspace_id: str) -> builtins.list[CredentialView]:
        """What may be shown of every credential of a workspace, by name."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(CREDENTIAL).where(CREDENTIAL.c.workspace_id == workspace_id).order_by(CREDENTIAL.c.name)
            )
            return [self._view(row) for row in rows]

    # -- rows ----------------------------------------------------------------------------

    async def _row(self, workspace_id: str, name: str) -> Row[Any]:
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(CREDENTIAL).where(CREDENTIAL.c.workspace_id == workspace_id, CREDENTIAL.c.name == name)
                )
            ).first()
        if row is None:
            raise _missing_credential(workspace_id, name)
        return row

    def _open_bytes(self, row: Row[Any]) -> bytes:
        sealed = Sealed(row.key_id, bytes(row.nonce), bytes(row.ciphertext))
        try:
            return self.keyring.open(sealed, credential_context(row.workspace_id, row.name))
        except (DecryptionFailed, SecretKeyMissing) as exc:
            fix = "; store its value again" if isinstance(exc, DecryptionFailed) else ""
            raise type(exc)(
                f"credential {row.name!r} of workspace {row.workspace_id}: {exc.message}{fix}",
                details={**exc.details, "credential": row.name, "workspace_id": row.workspace_id},
            ) from None

    def _open(self, row: Row[Any]) -> str | dict[str, Any]:
        value = orjson.loads(self._open_bytes(row))
        if not isinstance(value, str | dict):
            raise DecryptionFailed(
                f"credential {row.name!r} of workspace {row.workspace_id} holds neither text nor an object; "
                "store its value again",
                details={"credential": row.name, "workspace_id": row.workspace_id},
            )
        return value

    def _view(self, row: Row[Any]) -> CredentialView:
        return CredentialView(
            id=row.id,
            name=row.name,
            kind=row.kind,
            meta=dict(row.meta or {}),
            key_id=row.key_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            masked=_mask(self._open(row)),
        )


class CredentialSecretResolver:
    """Resolves a step's secrets from its workflow's workspace credentials.

    A workflow without a workspace (local mode) gets its secrets from ``fallback``, usually
    an ``EnvSecretResolver`` over ``SYNTHRAL_SECRET_<NAME>`` variables.

    Args:
        credentials: The credential store.
        fallback: For workflows that belong to no workspace.
    """

    def __init__(self, credentials: CredentialService, fallback: SecretResolver) -> None:
        self.credentials = credentials
        self.fallback = fallback

    async def __call__(self, names: builtins.list[str], workspace_id: str | None) -> dict[str, str]:
        """The values of ``names`` for a step of a workflow in ``workspace_id`` (None: local mode).

        Raises:
            ConfigurationError: A secret does not exist (the message names it and how to create it).
        """
        if workspace_id is None:
            return await self.fallback(names, None)
        return await self.credentials.values(workspace_id, names)


class StepSecretKinds:
    """The kind of each credential a step hands a plugin, for its ``secrets`` grant.

    A credential the host stores keeps its stored kind. One it does not store (from
    ``SYNTHRAL_SECRET_<NAME>`` for a workflow outside every workspace, or from an external
    secret store) has the kind the operator declared in ``security.secret_kinds``
    (``SYNTHRAL_CREDENTIAL_KIND_<NAME>``), and is checked like a stored one. An undeclared
    one is left out, so the plugin is only required to be granted some kind; the first
    time each such name is handed over, a warning names it and how to declare its kind.

    Args:
        declared: ``settings.security.secret_kinds``: kind by name as variables spell it.
        credentials: The host's store, when it serves the steps of workspaces; None when an
            external store serves every step (a credential row of the same name is then not
            what the step is handed, so its kind does not count).
    """

    def __init__(self, declared: Mapping[str, str], credentials: CredentialService | None) -> None:
        self.declared = {variable_key(name): kind for name, kind in declared.items()}
        self.credentials = credentials
        self._warned: set[str] = set()

    async def __call__(self, names: builtins.list[str], workspace_id: str | None) -> dict[str, str]:
        """The known kinds of ``names`` for a step of a workflow in ``workspace_id`` (None: local mode)."""
        if self.credentials is not None and workspace_id is not None:
            return await self.credentials.kinds(workspace_id, names)
        kinds: dict[str, str] = {}
        for name in names:
            key = variable_key(name)
            kind = self.declared.get(key)
            if kind is not None:
                kinds[name] = kind
            elif key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "credential %r has no declared kind, so any plugin granted some kind of credential may be "
                    "handed it; declare its kind with %s%s=api_key (or secret, basic, oauth2)",
                    name,
                    CREDENTIAL_KIND_PREFIX,
                    key.upper(),
                )
        return kinds
