"""Start at login: an XDG autostart entry on Linux, a LaunchAgent on macOS, the Run key on Windows."""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from pathlib import Path

__all__ = ["command", "disable", "enable", "entry_path", "is_enabled"]

LABEL = "org.synthral.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE = "SynthralOS"


def command(home: Path | None = None) -> list[str]:
    """The command login runs: this Python with the app, in the tray (and the data folder when not the default)."""
    argv = [sys.executable, "-m", "synthral_desktop", "--minimized"]
    if home is not None:
        argv += ["--home", str(home)]
    return argv


def entry_path() -> Path:
    """Where the entry lives on this platform (on Windows, a description of the registry value)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    if sys.platform == "win32":
        return Path(f"HKEY_CURRENT_USER\\{RUN_KEY}\\{VALUE}")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "autostart" / "synthral-desktop.desktop"


def enable(home: Path | None = None) -> Path:
    """Start the app at login; the entry's path."""
    argv = command(home)
    path = entry_path()
    if sys.platform == "win32":
        import winreg  # type: ignore[import-not-found,unused-ignore]

        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, VALUE, 0, winreg.REG_SZ, " ".join(f'"{part}"' for part in argv))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "darwin":
        path.write_bytes(plistlib.dumps({"Label": LABEL, "ProgramArguments": argv, "RunAtLoad": True}))
    else:
        path.write_text(
            "[Desktop Entry]\nType=Application\nName=SynthralOS\nComment=Local AI automation\n"
            f"Exec={shlex.join(argv)}\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
            encoding="utf-8",
        )
    return path


def disable() -> None:
    """Do not start the app at login."""
    if sys.platform == "win32":
        import winreg  # type: ignore[import-not-found,unused-ignore]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, VALUE)
        except FileNotFoundError:
            pass
        return
    entry_path().unlink(missing_ok=True)


def is_enabled() -> bool:
    """Whether the app starts at login."""
    if sys.platform == "win32":
        import winreg  # type: ignore[import-not-found,unused-ignore]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, VALUE)
        except FileNotFoundError:
            return False
        return True
    return entry_path().is_file()
