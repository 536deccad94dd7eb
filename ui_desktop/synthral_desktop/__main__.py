"""``synthral-desktop`` and ``synthral desktop``: open the app (or hand files to the one running)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="synthral-desktop", description="SynthralOS on the desktop.")
    parser.add_argument("files", nargs="*", help="Files to start a workflow with (the app asks which).")
    parser.add_argument("--home", help="The data folder (default: $SYNTHRAL_HOME, else ~/.synthral).")
    parser.add_argument("--minimized", action="store_true", help="Start in the tray (used at login).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Print the local host's log to stderr.")
    return parser.parse_args(argv)


def default_home(explicit: str | None) -> Path:
    """The data folder: ``--home``, the one chosen in settings, ``$SYNTHRAL_HOME``, else ``~/.synthral``."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    from synthral_desktop.dialogs import app_settings

    chosen = app_settings().value("home")
    if isinstance(chosen, str) and chosen:
        return Path(chosen).expanduser().resolve()
    return Path(os.environ.get("SYNTHRAL_HOME") or Path.home() / ".synthral").expanduser().resolve()


def main(argv: list[str] | None = None) -> int:
    """Run the app until it quits; the exit code."""
    if (argv if argv is not None else sys.argv[1:])[:1] == ["--host-process"]:
        # A frozen build has no ``python -m``: the app's own executable runs the local host.
        from synthral_desktop.hostproc import main as host_main

        host_main()
        return 0
    args = _arguments(argv)
    if args.verbose:
        os.environ["SYNTHRAL_DESKTOP_VERBOSE"] = "1"
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        # Chromium refuses to run its sandbox as root (containers, CI).
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()
    from PySide6.QtWidgets import QApplication

    from synthral_desktop.app import DesktopApp, StartRefused, refuse
    from synthral_desktop.single import SingleInstance

    application = QApplication(sys.argv[:1])
    application.setApplicationName("SynthralOS")
    application.setQuitOnLastWindowClosed(False)  # closing the window keeps the tray
    home = default_home(args.home)
    files = [str(Path(f).resolve()) for f in args.files]
    if SingleInstance(home).hand_over(files):
        return 0
    desktop = DesktopApp(home)
    try:
        desktop.start(files, minimized=args.minimized)
    except StartRefused as exc:
        print(f"synthral-desktop: {exc}", file=sys.stderr)
        refuse(str(exc))
        return 2
    application.aboutToQuit.connect(desktop.shutdown)
    code = application.exec()
    # The host is stopped and the lock released (aboutToQuit); leave without PySide's teardown
    # at interpreter exit, which can abort while QtWebEngine objects are collected.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
