"""Start at login writes the platform's entry and removes it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from synthral_desktop import autostart


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG entry is Linux's")
def test_start_at_login_writes_an_xdg_autostart_entry_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    path = autostart.enable(tmp_path / "data folder")
    assert path == tmp_path / "autostart" / "synthral-desktop.desktop"
    text = path.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    argv = shlex.split(exec_line.removeprefix("Exec="))
    assert argv == [sys.executable, "-m", "synthral_desktop", "--minimized", "--home", str(tmp_path / "data folder")]
    assert "Type=Application" in text
    assert autostart.is_enabled()
    autostart.disable()
    assert not autostart.is_enabled()
    autostart.disable()  # twice is fine
