"""``synthral desktop`` without the desktop distribution says how to install it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.skipif(
    importlib.util.find_spec("synthral_desktop") is not None, reason="the desktop app is installed here"
)
def test_synthral_desktop_without_the_desktop_app_names_the_package_to_install() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "synthral", "desktop", "--minimized"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "pip install synthral-desktop" in result.stderr
    assert "cd ui_desktop && uv sync" in result.stderr
