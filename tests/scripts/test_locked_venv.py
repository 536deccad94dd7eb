"""scripts/locked-venv.sh: the venvs it builds see the wheel folders pip is configured with."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def system_python_with_pip() -> str | None:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if (
            Path(candidate).exists()
            and subprocess.run([candidate, "-m", "pip", "--version"], check=False, capture_output=True).returncode == 0
        ):
            return candidate
    return None


@pytest.mark.skipif(system_python_with_pip() is None, reason="no system Python with pip on this machine")
def test_the_wheel_folder_pip_is_configured_with_reaches_uv_even_when_a_venv_python_comes_first(
    tmp_path: Path,
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nfind-links = {tmp_path / 'wheels'}\n")
    venv_bin = str(Path(sys.executable).parent)  # this venv's python has no pip
    env = {
        "PATH": f"{venv_bin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIP_CONFIG_FILE": str(config),
        "PYTHON": sys.executable,
    }
    bash = shutil.which("bash") or "/bin/bash"
    shown = subprocess.run(
        [bash, "-c", 'source scripts/locked-venv.sh && printf %s "${UV_FIND_LINKS:-}"'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == str(tmp_path / "wheels")


def test_a_wheel_folder_given_by_the_caller_is_kept(tmp_path: Path) -> None:
    env = {**os.environ, "UV_FIND_LINKS": str(tmp_path)}
    shown = subprocess.run(
        ["bash", "-c", 'source scripts/locked-venv.sh && printf %s "$UV_FIND_LINKS"'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == str(tmp_path)
