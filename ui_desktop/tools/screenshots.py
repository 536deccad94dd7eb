"""Make docs/ui/desktop.png (the window) and docs/ui/desktop-tray.png (the tray menu).

Run in the desktop venv from the repository root: ``ui_desktop/.venv/bin/python ui_desktop/tools/screenshots.py``.
It starts the app on a throwaway data folder, saves two workflows, runs them (one fails, one
waits for a person), then grabs the window and the tray menu offscreen.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from synthral_desktop.app import DesktopApp

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ui"
WORKFLOWS = [
    {
        "name": "Invoices from the Scans folder",
        "nodes": [
            {"id": "pick", "type": "core/transform", "config": {"mapping": {"name": "name", "size": "file.size"}}},
            {"id": "big", "type": "core/if", "config": {"conditions": [{"path": "size", "op": "gt", "value": 1000}]}},
            {"id": "review", "type": "engine/human_input", "config": {"prompt": "Check this large invoice"}},
            {"id": "file", "type": "core/set", "config": {"values": {"filed": True}}},
        ],
        "edges": [
            {"source": "pick", "target": "big"},
            {"source": "big", "target": "review", "handle": "true"},
            {"source": "big", "target": "file", "handle": "false"},
        ],
    },
    {
        "name": "Approve expenses",
        "nodes": [{"id": "approve", "type": "engine/human_input", "config": {"prompt": "Approve?"}}],
    },
    {
        "name": "Nightly report",
        "nodes": [{"id": "x", "type": "core/transform", "config": {"mapping": {"x": "nope"}, "on_missing": "error"}}],
        "settings": {"retry": {"max_attempts": 1}},
    },
]


def pump(seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def main() -> None:
    """Make both screenshots."""
    application = QApplication(sys.argv[:1])
    app = DesktopApp(Path(tempfile.mkdtemp(prefix="synthral-shots-")), interactive=False)
    app.start()
    while app.client is None:
        pump(0.2)
    for workflow in WORKFLOWS:
        app.client.call("POST", "/workflows", json=workflow)
        app.client.call("POST", f"/workflows/{workflow['name']}/run", json={})
    pump(8)
    app.refresh()
    assert app.window is not None
    app.window.resize(1280, 800)
    app.show_path("/workflows")
    pump(8)
    DOCS.mkdir(parents=True, exist_ok=True)
    app.window.grab().save(str(DOCS / "desktop.png"))
    assert app.tray is not None
    app.tray.menu.popup(QPoint(0, 0))
    pump(1)
    app.tray.menu.grab().save(str(DOCS / "desktop-tray.png"))
    app.tray.menu.hide()
    app.shutdown()
    application.quit()
    os._exit(0)  # PySide's teardown at interpreter exit is not needed for two files


if __name__ == "__main__":
    main()
