"""Make docs/ui/desktop-permissions.png: the desktop's permission dialog for an upgrade that asks for more.

Run in the desktop venv from the repository root:
``ui_desktop/.venv/bin/python ui_desktop/tools/permission_screenshot.py``. It renders the dialog
offscreen with what the RSS connector's refusal carries when a new version adds a data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from synthral_desktop.permissions import PermissionDialog, PermissionRequest, PreviousGrant

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ui"


def main() -> None:
    """Render and save the dialog."""
    app = QApplication.instance() or QApplication([])
    request = PermissionRequest(
        plugin="connector-rss",
        version="0.1.2",
        permissions=[
            "connect to any public host on the internet (through the egress proxy)",
            "keep files in its own data folder",
        ],
        missing=["files=data"],
    )
    previous = PreviousGrant("0.1.1", ["connect to any public host on the internet (through the egress proxy)"])
    dialog = PermissionDialog(request, previous)
    dialog.show()
    app.processEvents()
    DOCS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(DOCS / "desktop-permissions.png"))
    dialog.close()


if __name__ == "__main__":
    main()
