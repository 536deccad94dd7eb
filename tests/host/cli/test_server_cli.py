"""``synthral user`` and ``synthral secrets``, run as an operator runs them: separate processes."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthral.config import Settings
from synthral.security.crypto import KeyRing, generate_key, key_id_of
from synthral.services.secrets import CredentialService
from synthral.store.db import Database

pytestmark = pytest.mark.slow


def synthral(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthral", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "SYNTHRAL_HOME": str(home), "COLUMNS": "200", **env},
        timeout=120,
        check=False,
    )


def test_user_create_makes_an_owner_and_refuses_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = synthral(home, "user", "create", "ada@example.com", "--workspace", "acme", "--password-env", "PW",
                    PW="correct horse battery staple")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "workspace acme" in made.stdout and "owner" in made.stdout
    joined = synthral(home, "user", "create", "bob@example.com", "--workspace", "acme", "--role", "viewer",
                      "--password-env", "PW", PW="another good passphrase")  # fmt: skip
    assert joined.returncode == 0 and "member of acme as viewer" in joined.stdout
    unset = synthral(home, "user", "create", "eve@example.com", "--password-env", "NOT_SET")
    assert unset.returncode == 2 and "NOT_SET is not set" in unset.stderr
    weak = synthral(home, "user", "create", "eve@example.com", "--password-env", "PW", PW="short")
    assert weak.returncode == 2 and "12" in weak.stdout + weak.stderr
    again = synthral(
        home, "user", "create", "ada@example.com", "--password-env", "PW", PW="correct horse battery staple"
    )
    assert again.returncode == 2


async def test_secrets_rotate_reseals_under_the_new_primary_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old, new = generate_key(), generate_key()
    database = Database(f"sqlite+aiosqlite:///{home / 'synthral.db'}")
    home.mkdir(exist_ok=True)
    await database.migrate()
    keys = {"SYNTHRAL_SECRET_KEY": base64.b64encode(old).decode()}
    ring = KeyRing.configured(home, Settings.load(keys).security)
    made = synthral(home, "user", "create", "ada@example.com", "--workspace", "acme", "--password-env", "PW",
                    PW="correct horse battery staple", **keys)  # fmt: skip
    assert made.returncode == 0, made.stderr
    workspace = made.stdout.split("workspace acme (")[1].split(")")[0]
    await CredentialService(database, ring).put(workspace, "stripe", "sk_live_0123456789")
    both = f"{key_id_of(new)}:{base64.b64encode(new).decode()},{key_id_of(old)}:{base64.b64encode(old).decode()}"
    rotated = synthral(home, "secrets", "rotate", SYNTHRAL_SECRET_KEYS=both)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-sealed 1 credential" in rotated.stdout
    only_new = CredentialService(database, KeyRing.single(new))
    assert await only_new.get_value(workspace, "stripe") == "sk_live_0123456789"
    await database.close()
