"""Credentials on both backends: sealed at rest, never shown, rotated, handed to granted steps only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import secrets
import subprocess
import textwrap
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

from synthral.config import EngineSettings, Settings
from synthral.engine import state
from synthral.engine.model import Workflow
from synthral.engine.repository import save_workflow
from synthral.engine.runtime import Engine, EnvSecretResolver
from synthral.engine.worker import Worker
from synthral.errors import ConfigurationError, DecryptionFailed, InputInvalid, NotFound, SecretKeyMissing
from synthral.plugins.host import PluginHost
from synthral.security.crypto import KeyRing, generate_key, key_id_of
from synthral.security.redact import REDACTED
from synthral.services.app import secret_kinds_source, secret_source
from synthral.services.secrets import CredentialSecretResolver, CredentialService
from synthral.services.workflows import ExecutionView, WorkflowService
from synthral.store.db import Database
from synthral.store.tables import CREDENTIAL, EXECUTION_LOG, WORKSPACE, ExecutionStatus, utcnow
from tests.support.infisical import InfisicalStandIn, serve_infisical
from tests.support.postgres import find_pg_bin
from tests.support.settings import GRANT_ALL, REPO, make_settings


def a_secret() -> str:
    """A value unlike anything else in the database."""
    return "sk_live_" + secrets.token_hex(12)


def ring(primary: bytes, *others: bytes) -> KeyRing:
    return KeyRing({key_id_of(key): key for key in (primary, *others)}, key_id_of(primary))


async def add_workspace(database: Database, slug: str) -> str:
    workspace_id = f"ws-{slug}-{secrets.token_hex(4)}"
    row = {"id": workspace_id, "slug": f"{slug}-{workspace_id}", "name": slug, "created_at": utcnow()}
    await database.write(lambda connection: connection.execute(insert(WORKSPACE).values(row)))
    return workspace_id


def database_dump(database: Database) -> bytes:
    """Everything the database holds, as an attacker with its files (or pg_dump) would see it."""
    if not database.is_postgres:
        path = Path(database.url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(file.read_bytes() for file in files if file.exists())
    url = make_url(database.url)
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    command = [str(bin_dir / "pg_dump"), "-h", str(url.host), "-p", str(url.port), "-U", str(url.username)]
    return subprocess.run([*command, str(url.database)], capture_output=True, check=True).stdout


def assert_nowhere(dump: bytes, value: str) -> None:
    """Neither the text nor its hex form (PostgreSQL dumps bytea as hex) is in the dump."""
    assert value.encode() not in dump
    assert value.encode().hex().encode() not in dump


@pytest.fixture
async def workspace(database: Database) -> str:
    return await add_workspace(database, "acme")


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.single(generate_key())


@pytest.fixture
def credentials(database: Database, keyring: KeyRing) -> CredentialService:
    return CredentialService(database, keyring)


# -- the store ------------------------------------------------------------------------------


async def test_values_round_trip_as_text_and_objects(credentials: CredentialService, workspace: str) -> None:
    token = a_secret()
    await credentials.put(workspace, "stripe", token)
    await credentials.put(workspace, "db.main", {"username": "ops", "password": "correct horse", "port": 5432})
    assert await credentials.get_value(workspace, "stripe") == token
    assert await credentials.get_value(workspace, "db.main") == {
        "username": "ops",
        "password": "correct horse",
        "port": 5432,
    }


async def test_storing_again_replaces_the_value_and_keeps_the_identity(
    credentials: CredentialService, workspace: str
) -> None:
    first = await credentials.put(workspace, "stripe", a_secret(), meta={"connector": "stripe"})
    second_value = a_secret()
    second = await credentials.put(workspace, "stripe", second_value, kind="api_key")
    assert (second.id, second.created_at) == (first.id, first.created_at)
    assert second.updated_at >= first.updated_at
    assert (second.kind, second.meta) == ("api_key", {})
    assert await credentials.get_value(workspace, "stripe") == second_value
    assert [view.name for view in await credentials.list(workspace)] == ["stripe"]


async def test_views_never_hold_the_value(credentials: CredentialService, workspace: str, keyring: KeyRing) -> None:
    long_value = a_secret()
    short_value = "hunter2hunter2"
    stored = await credentials.put(workspace, "long", long_value, meta={"connector": "stripe", "scopes": ["read"]})
    await credentials.put(workspace, "short", short_value)
    await credentials.put(workspace, "login", {"username": "ops", "password": "correct horse battery"})
    views = await credentials.list(workspace)
    assert [view.name for view in views] == ["login", "long", "short"]
    shown = {view.name: view for view in views}
    assert shown["long"].masked == "••••••••" + long_value[-4:]
    assert shown["short"].masked == "••••••••"
    assert shown["login"].masked == "••••••••"
    assert shown["long"].meta == {"connector": "stripe", "scopes": ["read"]}
    assert shown["long"].key_id == keyring.primary and shown["long"].kind == "secret"
    assert shown["long"].created_at.tzinfo is not None
    assert await credentials.view(workspace, "long") == shown["long"] == stored
    everything = repr(views) + json.dumps([dataclasses.asdict(view) for view in views], default=str)
    for value in (long_value, short_value, "correct horse battery"):
        assert value not in everything
    assert keyring.primary in repr(credentials) and long_value not in repr(credentials)


async def test_values_hands_over_only_the_named_credentials(credentials: CredentialService, workspace: str) -> None:
    token = a_secret()
    await credentials.put(workspace, "token", token)
    await credentials.put(workspace, "login", {"username": "ops", "password": "pw-123456"})
    await credentials.put(workspace, "unrelated", a_secret())
    handed = await credentials.values(workspace, ["token", "login"])
    assert set(handed) == {"token", "login"}
    assert handed["token"] == token
    assert json.loads(handed["login"]) == {"username": "ops", "password": "pw-123456"}
    assert await credentials.values(workspace, []) == {}


async def test_a_missing_credential_is_named_with_the_fix(credentials: CredentialService, workspace: str) -> None:
    await credentials.put(workspace, "token", a_secret())
    with pytest.raises(ConfigurationError) as missing:
        await credentials.values(workspace, ["token", "github"])
    assert "secret 'github' is not stored" in missing.value.message
    assert "create a credential" in missing.value.message and "'secrets'" in missing.value.message
    assert missing.value.details["secret"] == "github"
    for read in (credentials.get_value, credentials.view, credentials.delete):
        with pytest.raises(NotFound, match=r"no credential named 'github'.*store it first"):
            await read(workspace, "github")


async def test_delete_removes_the_credential(credentials: CredentialService, workspace: str) -> None:
    await credentials.put(workspace, "token", a_secret())
    await credentials.delete(workspace, "token")
    assert await credentials.list(workspace) == []
    with pytest.raises(NotFound):
        await credentials.get_value(workspace, "token")


async def test_workspaces_do_not_share_credentials(
    database: Database, credentials: CredentialService, workspace: str
) -> None:
    other = await add_workspace(database, "globex")
    mine, theirs = a_secret(), a_secret()
    await credentials.put(workspace, "token", mine)
    await credentials.put(other, "token", theirs)
    assert await credentials.values(workspace, ["token"]) == {"token": mine}
    assert await credentials.values(other, ["token"]) == {"token": theirs}
    await credentials.delete(other, "token")
    assert await credentials.get_value(workspace, "token") == mine


@pytest.mark.parametrize("name", ["", "has space", "slash/y", "ü-umlaut", "x" * 129, "semi;colon"])
async def test_a_bad_name_is_refused_with_the_rule(credentials: CredentialService, workspace: str, name: str) -> None:
    with pytest.raises(InputInvalid, match=r"credential name .* is not valid; use 1 to 128 letters"):
        await credentials.put(workspace, name, a_secret())


async def test_bad_values_kinds_and_meta_are_refused_with_the_fix(
    credentials: CredentialService, workspace: str
) -> None:
    token = a_secret()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"value": 42}, "must be a string or a JSON object, not int"),
        ({"value": ""}, "the credential value is empty"),
        ({"value": {}}, "the credential value is empty"),
        ({"value": {"when": object()}}, "the credential value is not JSON"),
        ({"value": token, "kind": "Not A Kind"}, "credential kind 'Not A Kind' is not valid"),
        ({"value": token, "meta": ["list"]}, "meta must be a JSON object, not list"),
        ({"value": token, "meta": {"when": object()}}, "credential meta is not JSON"),
        ({"value": token, "meta": {"note": f"the key is {token}"}}, "meta contains the credential's value"),
        (
            {"value": {"access_token": token, "token_type": "Bearer"}, "meta": {"token": token}},
            "meta contains the credential's value",
        ),
    ]
    for arguments, message in cases:
        value = arguments.pop("value")
        with pytest.raises(InputInvalid) as refused:
            await credentials.put(workspace, "name", value, **arguments)
        assert message in refused.value.message
        assert token not in refused.value.message
    # Fields that are not secret may be shown, even when the value holds them too.
    view = await credentials.put(
        workspace,
        "github",
        {"access_token": token, "token_type": "Bearer", "expires_at": "2030-01-01T00:00:00Z"},
        kind="oauth2",
        meta={"token_type": "Bearer", "expires_at": "2030-01-01T00:00:00Z"},
    )
    assert view.meta["expires_at"] == "2030-01-01T00:00:00Z"


async def test_a_credential_needs_an_existing_workspace(credentials: CredentialService) -> None:
    with pytest.raises(NotFound, match="no workspace 'nowhere'; create the workspace first"):
        await credentials.put("nowhere", "token", a_secret())


async def test_the_database_holds_no_plaintext(
    database: Database, credentials: CredentialService, workspace: str
) -> None:
    token, password = a_secret(), "pw-" + secrets.token_hex(10)
    await credentials.put(workspace, "plaintext-probe", token, meta={"connector": "stripe"})
    await credentials.put(workspace, "login-probe", {"username": "ops", "password": password})
    assert await credentials.get_value(workspace, "plaintext-probe") == token
    dump = database_dump(database)
    assert b"plaintext-probe" in dump and b"login-probe" in dump  # the dump does hold the rows
    for value in (token, password):
        assert_nowhere(dump, value)


async def _tamper(database: Database, workspace: str, name: str, **values: Any) -> None:
    statement = (
        update(CREDENTIAL).where(CREDENTIAL.c.workspace_id == workspace, CREDENTIAL.c.name == name).values(**values)
    )
    await database.write(lambda connection: connection.execute(statement))


async def _sealed(database: Database, workspace: str, name: str) -> Any:
    async with database.engine.connect() as connection:
        return (
            await connection.execute(
                select(CREDENTIAL.c.key_id, CREDENTIAL.c.nonce, CREDENTIAL.c.ciphertext).where(
                    CREDENTIAL.c.workspace_id == workspace, CREDENTIAL.c.name == name
                )
            )
        ).one()


@pytest.mark.parametrize("index", [0, 7, -1])
async def test_one_flipped_ciphertext_byte_fails_decryption(
    database: Database, credentials: CredentialService, workspace: str, index: int
) -> None:
    await credentials.put(workspace, "token", a_secret())
    flipped = bytearray((await _sealed(database, workspace, "token")).ciphertext)
    flipped[index] ^= 0x01
    await _tamper(database, workspace, "token", ciphertext=bytes(flipped))
    with pytest.raises(DecryptionFailed, match=r"credential 'token'.*altered or copied.*store its value again"):
        await credentials.get_value(workspace, "token")
    with pytest.raises(DecryptionFailed):
        await credentials.values(workspace, ["token"])


async def test_a_ciphertext_copied_to_another_credential_fails_decryption(
    database: Database, credentials: CredentialService, workspace: str
) -> None:
    await credentials.put(workspace, "admin", a_secret())
    await credentials.put(workspace, "guest", a_secret())
    admin = await _sealed(database, workspace, "admin")
    await _tamper(database, workspace, "guest", key_id=admin.key_id, nonce=admin.nonce, ciphertext=admin.ciphertext)
    with pytest.raises(DecryptionFailed) as copied:
        await credentials.get_value(workspace, "guest")
    assert copied.value.details["credential"] == "guest"
    other = await add_workspace(database, "globex")
    await credentials.put(other, "admin", a_secret())
    await _tamper(database, other, "admin", key_id=admin.key_id, nonce=admin.nonce, ciphertext=admin.ciphertext)
    with pytest.raises(DecryptionFailed):
        await credentials.get_value(other, "admin")


# -- rotation --------------------------------------------------------------------------------


async def test_rotation_reseals_every_credential_under_the_new_primary_key(database: Database, workspace: str) -> None:
    old, new = generate_key(), generate_key()
    before = CredentialService(database, KeyRing.single(old))
    values = {f"c{i}": a_secret() for i in range(5)}
    for name, value in values.items():
        await before.put(workspace, name, value)
    both = CredentialService(database, ring(new, old))
    assert [await both.get_value(workspace, name) for name in values] == list(values.values())

    assert await both.rotate(batch_size=2) == 5
    assert {view.key_id for view in await both.list(workspace)} == {key_id_of(new)}
    assert await both.rotate() == 0
    retired = CredentialService(database, KeyRing.single(new))  # the old key may go now
    assert await retired.values(workspace, list(values)) == values
    with pytest.raises(SecretKeyMissing, match=r"credential 'c0'.*add it back"):
        await before.get_value(workspace, "c0")


async def test_rotation_without_the_old_key_stops_and_names_the_credential(database: Database, workspace: str) -> None:
    await CredentialService(database, KeyRing.single(generate_key())).put(workspace, "orphan", a_secret())
    with pytest.raises(SecretKeyMissing, match=r"credential 'orphan'.*not configured"):
        await CredentialService(database, KeyRing.single(generate_key())).rotate()


async def test_rotation_leaves_values_written_meanwhile_alone(database: Database, workspace: str) -> None:
    old, new = generate_key(), generate_key()
    writer = CredentialService(database, KeyRing.single(old))  # a process that has not got the new key yet
    rotating = CredentialService(database, ring(new, old))
    names = [f"c{i}" for i in range(12)]
    for name in names:
        await writer.put(workspace, name, f"{name}-round-0")

    async def rewrite() -> None:
        for round_number in (1, 2, 3):
            for name in names:
                await writer.put(workspace, name, f"{name}-round-{round_number}")

    await asyncio.gather(rotating.rotate(batch_size=3), rewrite())
    assert [await rotating.get_value(workspace, name) for name in names] == [f"{n}-round-3" for n in names]
    await rotating.rotate()  # what was written under the old key meanwhile
    assert {view.key_id for view in await rotating.list(workspace)} == {key_id_of(new)}
    assert [await rotating.get_value(workspace, name) for name in names] == [f"{n}-round-3" for n in names]


# -- handed to steps -------------------------------------------------------------------------

PROBE_PLUGIN = '''
"""Nodes that use their granted secrets the way careless integrations do."""

import hashlib
import base64
import itertools
import json
import urllib.parse

from pydantic import BaseModel, Field

from synthral_sdk import Context, NoConfig, Node, hookimpl
from synthral_sdk.errors import RetryableError


class SecretIn(BaseModel):
    secret: str


class Revealed(BaseModel):
    value: str | None = None
    sha256: str | None = None
    granted: list[str] = Field(default_factory=list)


class Empty(BaseModel):
    pass


class Reveal(Node[SecretIn, Revealed]):
    """Returns a granted secret, as an API that echoes the key it was sent."""

    name = "reveal"

    def run(self, inputs: SecretIn, config: NoConfig, context: Context) -> Revealed:
        value = context.secrets.get(inputs.secret)
        digest = hashlib.sha256(value.encode()).hexdigest() if value is not None else None
        return Revealed(value=value, sha256=digest, granted=sorted(context.secrets))


class Refuse(Node[SecretIn, Empty]):
    """Fails quoting one field of a structured secret."""

    name = "refuse"

    def run(self, inputs: SecretIn, config: NoConfig, context: Context) -> Empty:
        key = json.loads(context.secrets[inputs.secret])["key"]
        raise RetryableError(f"the server refused key {key}")


class Encoded(BaseModel):
    forms: dict[str, str]


class Encode(Node[SecretIn, Encoded]):
    """Returns a granted secret the way libraries pass it on: base64, Basic auth, URL, hex, JSON."""

    name = "encode"

    def run(self, inputs: SecretIn, config: NoConfig, context: Context) -> Encoded:
        value = context.secrets[inputs.secret]
        raw = value.encode()
        return Encoded(
            forms={
                "base64": base64.b64encode(raw).decode(),
                "base64url_unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                "basic": "Basic " + base64.b64encode(b"ops:" + raw).decode(),
                "url": "https://api.example.com/v1?key=" + urllib.parse.quote(value, safe="") + "&page=2",
                "hex": raw.hex(),
                "json": json.dumps({"key": value}),
            }
        )


@hookimpl
def synthral_nodes():
    return [Reveal(), Refuse(), Encode()]
'''

PROBE_PROJECT = """
[project]
name = "synthral-test-probe"
version = "1.0.0"
description = "Test plugin: nodes that echo their granted secrets"
requires-python = ">=3.11"
dependencies = ["synthral-sdk>=1,<2"]

[project.entry-points."synthral.plugins"]
probe = "synthral_test_probe"

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"
"""


def install_probe(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, secrets: str) -> Path:
    """A home with the probe plugin installed, declaring and granted ``secrets`` (TOML)."""
    source = tmp_path_factory.mktemp("probe-source")
    (source / "pyproject.toml").write_text(textwrap.dedent(PROBE_PROJECT))
    (source / "synthral_test_probe").mkdir()
    (source / "synthral_test_probe" / "__init__.py").write_text(PROBE_PLUGIN.lstrip())
    # It is handed credentials, so it declares them (and is granted them below).
    (source / "synthral_test_probe" / "synthral-plugin.toml").write_text(f"[permissions]\nsecrets = {secrets}\n")
    home = tmp_path_factory.mktemp("probe-home")

    async def install() -> None:
        plugins = PluginHost(make_settings(home, wheelhouse))
        await plugins.install(str(source), grant=GRANT_ALL)
        await plugins.close()

    asyncio.run(install())
    return home


@pytest.fixture(scope="module")
def probe_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """The probe plugin, granted credentials of any kind, installed once for the module."""
    return install_probe(tmp_path_factory, wheelhouse, '"any"')


@dataclass
class Rig:
    """An engine whose steps get their secrets from the workspace credentials, with a worker running."""

    database: Database
    engine: Engine
    service: WorkflowService
    local_secrets: dict[str, SecretStr]

    async def start(self, data: dict[str, Any], workspace_id: str | None) -> str:
        workflow = Workflow.model_validate(data)
        async with self.database.transaction() as connection:
            saved = await save_workflow(connection, workflow, {"probe": "1.0.0"}, workspace_id=workspace_id)
            execution_id = await connection.run_sync(
                state.enqueue, state.NewRun(workflow_id=saved.workflow_id, workflow_version=saved.version)
            )
        self.engine.notify()
        return execution_id

    async def wait(self, execution_id: str, *statuses: str) -> ExecutionView:
        wanted = set(statuses) or set(ExecutionStatus.TERMINAL)
        for _ in range(1200):
            view = await self.service.execution(execution_id)
            if view.status in wanted:
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"execution {execution_id} is {view.status}, wanted {wanted}: {view.execution}")

    async def log_lines(self, execution_id: str) -> list[str]:
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(EXECUTION_LOG.c.message).where(EXECUTION_LOG.c.execution_id == execution_id)
            )
            return [row.message for row in rows]


@dataclass
class Keys:
    old: bytes
    new: bytes


@pytest.fixture
def keys() -> Keys:
    return Keys(generate_key(), generate_key())


@pytest.fixture
async def rig(database: Database, probe_home: Path, wheelhouse: Path, keys: Keys) -> AsyncIterator[Rig]:
    plugins = PluginHost(make_settings(probe_home, wheelhouse))
    # The operator has deployed the new key as primary, the old one kept to open what it sealed.
    local_secrets: dict[str, SecretStr] = {}  # what SYNTHRAL_SECRET_<NAME> variables set, for local workflows
    resolver = CredentialSecretResolver(
        CredentialService(database, ring(keys.new, keys.old)), fallback=EnvSecretResolver(local_secrets)
    )
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0), secrets=resolver)
    worker = Worker(engine, concurrency=4, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    yield Rig(database, engine, WorkflowService(database, plugins, engine), local_secrets)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await plugins.close()


def chain(name: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": name, "nodes": list(nodes), "edges": edges}


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.slow
async def test_a_run_in_flight_keeps_its_secrets_across_a_key_rotation(
    rig: Rig, database: Database, workspace: str, keys: Keys
) -> None:
    token = a_secret()
    sealed_before = CredentialService(database, KeyRing.single(keys.old))
    await sealed_before.put(workspace, "token", token)
    await sealed_before.put(workspace, "unrelated", a_secret())
    workflow = chain(
        "rotation",
        {"id": "before", "type": "probe/reveal", "input": {"secret": "token"}, "secrets": ["token"]},
        {"id": "gate", "type": "engine/wait_signal", "config": {"signal": "go"}},
        {"id": "after", "type": "probe/reveal", "input": {"secret": "token"}, "secrets": ["token"]},
        {"id": "ungranted", "type": "probe/reveal", "input": {"secret": "token"}},
    )
    execution_id = await rig.start(workflow, workspace)
    await rig.wait(execution_id, ExecutionStatus.WAITING)

    rotating = CredentialService(database, ring(keys.new, keys.old))
    assert await rotating.rotate() == 2
    assert {view.key_id for view in await rotating.list(workspace)} == {key_id_of(keys.new)}
    await rig.service.signal(execution_id, name="go", data={})
    view = await rig.wait(execution_id)

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    outputs = {step["node_id"]: step["output"] for step in view.steps if step["status"] == "completed"}
    for node in ("before", "after"):
        assert outputs[node] == {"value": REDACTED, "sha256": sha256(token), "granted": ["token"]}
    assert outputs["ungranted"] == {"value": None, "sha256": None, "granted": []}
    assert view.execution["output"] == {"ungranted": outputs["ungranted"]}
    assert_nowhere(database_dump(database), token)


@pytest.mark.slow
async def test_encodings_of_a_secret_in_an_output_are_masked_in_steps_and_the_database(
    rig: Rig, database: Database, workspace: str, keys: Keys
) -> None:
    token = 'p@ss/w\u00f6rd "' + a_secret()
    await CredentialService(database, KeyRing.single(keys.new)).put(workspace, "token", token)
    workflow = chain(
        "encodings", {"id": "use", "type": "probe/encode", "input": {"secret": "token"}, "secrets": ["token"]}
    )
    view = await rig.wait(await rig.start(workflow, workspace))

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    [step] = view.steps
    forms = step["output"]["forms"]
    assert forms["url"] == f"https://api.example.com/v1?key={REDACTED}&page=2"
    assert forms["basic"].startswith("Basic b3BzO") and REDACTED in forms["basic"]
    for name in ("base64", "base64url_unpadded", "hex"):
        assert forms[name] == REDACTED, name
    assert forms["json"] == f'{{"key": "{REDACTED}"}}'
    raw = token.encode()
    dump = database_dump(database)
    for encoded in (
        token,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(b"ops:" + raw).decode()[8:-4],
        urllib.parse.quote(token, safe=""),
        json.dumps(token)[1:-1],
    ):
        assert_nowhere(dump, encoded)


@pytest.mark.slow
async def test_a_secret_quoted_in_an_error_is_masked_in_steps_logs_and_the_run(
    rig: Rig, database: Database, workspace: str, keys: Keys
) -> None:
    key = a_secret()
    await CredentialService(database, KeyRing.single(keys.new)).put(workspace, "creds", {"key": key, "region": "eu"})
    workflow = chain(
        "refusal",
        {
            "id": "call",
            "type": "probe/refuse",
            "input": {"secret": "creds"},
            "secrets": ["creds"],
            "retry": {"max_attempts": 2, "initial_interval": 0},
        },
    )
    execution_id = await rig.start(workflow, workspace)
    view = await rig.wait(execution_id)

    assert view.status == ExecutionStatus.FAILED
    assert [step["status"] for step in view.steps] == ["failed", "failed"]
    for step in view.steps:
        assert step["error_message"] == f"the server refused key {REDACTED}"
    assert view.execution["error_message"] == f"the server refused key {REDACTED}"
    lines = await rig.log_lines(execution_id)
    assert any("attempt 1 failed" in line and REDACTED in line for line in lines), lines
    assert_nowhere(database_dump(database), key)


@pytest.mark.slow
async def test_a_missing_secret_fails_the_step_naming_it(rig: Rig, workspace: str) -> None:
    rig.local_secrets["absent"] = SecretStr(a_secret())  # a workspace never falls back to the environment
    workflow = chain(
        "missing", {"id": "use", "type": "probe/reveal", "input": {"secret": "absent"}, "secrets": ["absent"]}
    )
    execution_id = await rig.start(workflow, workspace)
    view = await rig.wait(execution_id)

    assert view.status == ExecutionStatus.FAILED
    assert view.execution["error_node"] == "use"
    [step] = view.steps
    assert step["status"] == "failed" and step["error_type"] == "ConfigurationError"
    assert "secret 'absent' is not stored in this workspace; create a credential" in step["error_message"]
    assert view.execution["error_message"] == step["error_message"]


@pytest.mark.slow
async def test_a_workflow_outside_every_workspace_reads_the_environment(rig: Rig, database: Database) -> None:
    token = a_secret()
    rig.local_secrets.update(Settings.load({"SYNTHRAL_SECRET_LOCAL_TOKEN": token}).security.step_secrets)
    workflow = chain(
        "local", {"id": "use", "type": "probe/reveal", "input": {"secret": "local-token"}, "secrets": ["local-token"]}
    )
    view = await rig.wait(await rig.start(workflow, None))

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"] == {"use": {"value": REDACTED, "sha256": sha256(token), "granted": ["local-token"]}}
    assert_nowhere(database_dump(database), token)


@pytest.mark.slow
async def test_a_plugin_is_handed_only_credentials_of_the_kinds_it_was_granted(
    database: Database, workspace: str, tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, keys: Keys
) -> None:
    home = await asyncio.to_thread(install_probe, tmp_path_factory, wheelhouse, '["api_key"]')
    credentials = CredentialService(database, ring(keys.new))
    token, login = a_secret(), a_secret()
    await credentials.put(workspace, "token", token, kind="api_key")
    await credentials.put(workspace, "login", {"username": "ops", "password": login}, kind="basic")
    plugins = PluginHost(make_settings(home, wheelhouse))
    resolver = CredentialSecretResolver(credentials, fallback=EnvSecretResolver({}))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0), secrets=resolver,
                    secret_kinds=credentials.kinds_for_step)  # fmt: skip
    worker = Worker(engine, concurrency=2, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    rig = Rig(database, engine, WorkflowService(database, plugins, engine), {})
    try:
        granted = chain("kind-ok", {"id": "use", "type": "probe/reveal", "input": {"secret": "token"},
                                    "secrets": ["token"]})  # fmt: skip
        view = await rig.wait(await rig.start(granted, workspace))
        assert view.status == ExecutionStatus.COMPLETED
        assert view.steps[0]["output"]["sha256"] == sha256(token)

        refused = chain("kind-refused", {"id": "use", "type": "probe/reveal", "input": {"secret": "login"},
                                         "secrets": ["token", "login"]})  # fmt: skip
        view = await rig.wait(await rig.start(refused, workspace))
        assert view.status == ExecutionStatus.FAILED
        [step] = view.steps
        assert step["error_type"] == "PermissionDenied" and step["attempt"] == 1  # not retried
        assert "credential 'login' is of kind 'basic'" in step["error_message"]
        assert "grant 'secrets=basic'" in step["error_message"]
        assert_nowhere(database_dump(database), login)
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await plugins.close()


# -- kinds of credentials the host does not store -------------------------------------------

STORE = "secrets-infisical/infisical"
PROJECT = "proj-kinds"
UNDECLARED = "has no declared kind"


@pytest.fixture(scope="module")
def kinds_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """The probe plugin, granted credentials of kind api_key only, beside the Infisical secret store."""
    home = install_probe(tmp_path_factory, wheelhouse, '["api_key"]')

    async def install() -> None:
        plugins = PluginHost(make_settings(home, wheelhouse))
        await plugins.install(str(REPO / "plugins" / "secrets-infisical"), grant=GRANT_ALL)
        await plugins.close()

    asyncio.run(install())
    return home


@pytest.fixture
def infisical() -> Iterator[InfisicalStandIn]:
    yield from serve_infisical({"id-kinds": "s3cret-of-kinds"})


def settings_from(home: Path, wheelhouse: Path, environ: dict[str, str]) -> Settings:
    """A throwaway home's settings, with the security section of a process started with ``environ`` set too."""
    security = Settings.load({**os.environ, **environ}).security
    return make_settings(home, wheelhouse).model_copy(update={"security": security})


@contextlib.asynccontextmanager
async def host_rig(database: Database, settings: Settings, credentials: CredentialService) -> AsyncIterator[Rig]:
    """A worker whose engine gets secrets and their kinds the way a host process wires them."""
    plugins = PluginHost(settings)
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0),
                    secrets=secret_source(settings, plugins, credentials),
                    secret_kinds=secret_kinds_source(settings, credentials))  # fmt: skip
    worker = Worker(engine, concurrency=2, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    try:
        yield Rig(database, engine, WorkflowService(database, plugins, engine), {})
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await plugins.close()


def reveal(name: str, *granted: str) -> dict[str, Any]:
    """A one-node workflow whose step is handed ``granted`` (default: ``name``) and echoes ``name``."""
    node = {"id": "use", "type": "probe/reveal", "input": {"secret": name}, "secrets": list(granted or [name])}
    return chain(f"reveal-{name}-{secrets.token_hex(3)}", node)


def undeclared_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "synthral.secrets" and UNDECLARED in r.getMessage()]


def assert_refused_as(view: ExecutionView, name: str, kind: str) -> None:
    """The step failed at its first attempt, before the call, naming the credential, its kind and the grant."""
    assert view.status == ExecutionStatus.FAILED, view.execution
    [step] = view.steps
    assert step["error_type"] == "PermissionDenied" and step["attempt"] == 1, step  # not retried
    assert f"credential {name!r} is of kind {kind!r}" in step["error_message"]
    assert f"grant 'secrets={kind}'" in step["error_message"]
    assert step["output"] is None


@pytest.mark.slow
async def test_a_declared_environment_credential_is_checked_like_a_stored_one(
    database: Database, kinds_home: Path, wheelhouse: Path, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="synthral.secrets")
    token, login = a_secret(), a_secret()
    environ = {
        "SYNTHRAL_SECRET_TOKEN": token,
        "SYNTHRAL_SECRET_LOGIN": login,
        "SYNTHRAL_CREDENTIAL_KIND_TOKEN": "api_key",
        "SYNTHRAL_CREDENTIAL_KIND_LOGIN": "basic",
    }
    settings = settings_from(kinds_home, wheelhouse, environ)
    async with host_rig(database, settings, CredentialService(database, ring(keys.new))) as rig:
        view = await rig.wait(await rig.start(reveal("token"), None))
        assert view.status == ExecutionStatus.COMPLETED, view.execution
        assert view.steps[0]["output"]["sha256"] == sha256(token)

        assert_refused_as(await rig.wait(await rig.start(reveal("login", "token", "login"), None)), "login", "basic")

    assert undeclared_warnings(caplog) == []
    assert_nowhere(database_dump(database), login)


@pytest.mark.slow
async def test_an_undeclared_environment_credential_keeps_the_loose_check_and_warns_once(
    database: Database, kinds_home: Path, wheelhouse: Path, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="synthral.secrets")
    login = a_secret()
    settings = settings_from(kinds_home, wheelhouse, {"SYNTHRAL_SECRET_DB_LOGIN": login})
    async with host_rig(database, settings, CredentialService(database, ring(keys.new))) as rig:
        for _ in range(2):
            view = await rig.wait(await rig.start(reveal("db-login"), None))
            assert view.status == ExecutionStatus.COMPLETED, view.execution
            assert view.steps[0]["output"]["sha256"] == sha256(login)

    [warning] = undeclared_warnings(caplog)
    assert "credential 'db-login'" in warning and "SYNTHRAL_CREDENTIAL_KIND_DB_LOGIN=api_key" in warning
    assert login not in caplog.text


@pytest.mark.slow
async def test_a_stored_credential_keeps_its_stored_kind_whatever_is_declared(
    database: Database, workspace: str, kinds_home: Path, wheelhouse: Path, keys: Keys
) -> None:
    credentials = CredentialService(database, ring(keys.new))
    await credentials.put(workspace, "token", {"username": "ops", "password": a_secret()}, kind="basic")
    environ = {"SYNTHRAL_SECRET_TOKEN": a_secret(), "SYNTHRAL_CREDENTIAL_KIND_TOKEN": "api_key"}
    async with host_rig(database, settings_from(kinds_home, wheelhouse, environ), credentials) as rig:
        assert_refused_as(await rig.wait(await rig.start(reveal("token"), workspace)), "token", "basic")


@pytest.mark.slow
async def test_an_external_store_s_credentials_have_their_declared_kinds_and_same_named_rows_do_not_count(
    database: Database,
    workspace: str,
    kinds_home: Path,
    wheelhouse: Path,
    keys: Keys,
    infisical: InfisicalStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="synthral.secrets")
    openai_key, db_login, region = a_secret(), a_secret(), a_secret()
    for name, value in (("OPENAI_KEY", openai_key), ("DB_LOGIN", db_login), ("REGION", region)):
        infisical.put(PROJECT, "prod", "/", name, value)
    credentials = CredentialService(database, ring(keys.new))
    # A row the host's own store holds under the same name is not what the step is handed.
    await credentials.put(workspace, "DB_LOGIN", a_secret(), kind="api_key")
    environ = {
        "SYNTHRAL_SECRET_STORE": STORE,
        "SYNTHRAL_SECRET_STORE_CONFIG": json.dumps(
            {"site_url": infisical.url, "project_id": PROJECT, "environment": "prod"}
        ),
        "SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_ID": "id-kinds",
        "SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_SECRET": "s3cret-of-kinds",
        "SYNTHRAL_CREDENTIAL_KIND_OPENAI_KEY": "api_key",
        "SYNTHRAL_CREDENTIAL_KIND_DB_LOGIN": "basic",
    }
    async with host_rig(database, settings_from(kinds_home, wheelhouse, environ), credentials) as rig:
        view = await rig.wait(await rig.start(reveal("OPENAI_KEY"), workspace))
        assert view.status == ExecutionStatus.COMPLETED, view.execution
        assert view.steps[0]["output"]["sha256"] == sha256(openai_key)

        assert_refused_as(await rig.wait(await rig.start(reveal("DB_LOGIN"), workspace)), "DB_LOGIN", "basic")

        view = await rig.wait(await rig.start(reveal("REGION"), workspace))  # undeclared: the loose check
        assert view.status == ExecutionStatus.COMPLETED, view.execution
        assert view.steps[0]["output"]["sha256"] == sha256(region)

    [warning] = undeclared_warnings(caplog)
    assert "credential 'REGION'" in warning and "SYNTHRAL_CREDENTIAL_KIND_REGION=" in warning
    assert_nowhere(database_dump(database), db_login)
