"""Installing a plugin from the desktop asks for its permissions first, on a real local host."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from synthral_desktop.app import DesktopApp
from synthral_desktop.client import ApiClient, ApiError
from synthral_desktop.dialogs import PluginsDialog
from synthral_desktop.permissions import PermissionDialog, PermissionRequest, PreviousGrant, install_approved

ROOT = Path(__file__).resolve().parents[2]
RSS = ROOT / "plugins" / "connector-rss"


def build(tmp: Path, version: str, extra: str = "") -> Path:
    """The first-party RSS connector as a wheel at ``version``, declaring ``extra`` besides its own permissions."""
    source = tmp / f"rss-{version}"
    shutil.copytree(RSS, source, ignore=shutil.ignore_patterns(".venv", "tests", "__pycache__", "*.lock", "dist"))
    project = source / "pyproject.toml"
    project.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', project.read_text()))
    declared = next(source.glob("synthral_connector_rss/synthral-plugin.toml"))
    declared.write_text(declared.read_text() + extra)
    out = tmp / f"dist-{version}"
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)], check=True, timeout=300)
    return next(out.glob("*.whl"))


def answering(approve: bool, seen: list[PermissionDialog]) -> None:
    """Answer the permission dialog that is about to open (Approve or Cancel), keeping it in ``seen``."""

    def click() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PermissionDialog):
            QTimer.singleShot(20, click)
            return
        seen.append(dialog)
        (dialog.approve_button if approve else dialog.cancel_button).click()

    QTimer.singleShot(0, click)


def versions(client: ApiClient) -> list[str]:
    try:
        return [str(v["version"]) for v in client.call("GET", "/plugins/connector-rss")["versions"]]
    except ApiError:
        return []


@pytest.fixture
def plugins(desktop: DesktopApp) -> Callable[[], PluginsDialog]:
    def make() -> PluginsDialog:
        dialog = desktop.open_plugins()
        assert isinstance(dialog, PluginsDialog)
        return dialog

    return make


def test_a_wheel_is_installed_only_after_its_permissions_are_approved_and_an_upgrade_asking_more_asks_again(
    plugins: Callable[[], PluginsDialog], client: ApiClient, tmp_path: Path
) -> None:
    first = build(tmp_path, "0.1.1")
    dialog = plugins()
    seen: list[PermissionDialog] = []

    answering(False, seen)
    assert dialog.install_wheel(first) == [first.name]
    assert "not installed, its permissions were not approved" in dialog.message.text()
    assert versions(client) == []
    shown = [seen[0].lines.item(row).text() for row in range(seen[0].lines.count())]
    assert shown == ["connect to any public host on the internet (through the egress proxy)"]
    assert seen[0].new == []

    answering(True, seen)
    assert dialog.install_wheel(first) == []
    assert "installed connector-rss 0.1.1" in dialog.message.text()
    assert versions(client) == ["0.1.1"]

    # The same declaration again (a reinstall is refused as such, so a new version): no dialog at all.
    same = build(tmp_path, "0.1.2")
    before = len(seen)
    assert dialog.install_wheel(same) == []
    assert len(seen) == before
    # An upgrade asking for more: only the new permission is marked, and cancelling keeps 0.1.2 alone.
    more = build(tmp_path, "0.1.3", 'files = "data"\n')
    answering(False, seen)
    assert dialog.install_wheel(more) == [more.name]
    assert seen[-1].new == ["keep files in its own data folder"]
    assert "0.1.2 stays active" in seen[-1].intro.text()
    assert versions(client) == ["0.1.1", "0.1.2"]
    dialog.close()


def test_a_file_that_is_not_a_wheel_is_refused_before_anything_is_sent(
    plugins: Callable[[], PluginsDialog], tmp_path: Path
) -> None:
    dialog = plugins()
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert dialog.install_wheel(notes) == [str(notes)]
    assert "is not a plugin wheel file" in dialog.message.text()
    dialog.close()


def test_without_anyone_to_ask_the_hosts_refusal_names_what_to_grant(client: ApiClient, tmp_path: Path) -> None:
    wheel = build(tmp_path, "0.1.9", 'subprocesses = ["tesseract"]\n')
    with pytest.raises(ApiError) as refused:
        install_approved(client, None, wheel=wheel)
    assert refused.value.status == 400
    request = PermissionRequest.of(refused.value)
    assert request is not None
    assert request.plugin == "connector-rss"
    assert request.version == "0.1.9"
    assert "subprocesses=tesseract" in request.missing
    assert "run the programs tesseract" in request.permissions
    assert "0.1.9" not in versions(client)
    assert PreviousGrant.of(client, "no-such-plugin") is None


def test_a_wheel_dropped_on_the_window_asks_for_its_permissions_and_cancelling_installs_nothing(
    desktop: DesktopApp, client: ApiClient, tmp_path: Path
) -> None:
    wheel = build(tmp_path, "0.1.4", 'subprocesses = ["tesseract"]\n')
    seen: list[PermissionDialog] = []
    answering(False, seen)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(wheel))])
    assert desktop.window is not None
    enter = QDragEnterEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(desktop.window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(desktop.window, drop)
    assert len(seen) == 1, desktop.errors
    assert "run the programs tesseract" in [
        seen[0].lines.item(row).text().split("   ")[0] for row in range(seen[0].lines.count())
    ]
    assert "not installed, its permissions were not approved" in desktop.errors[-1]
    assert "0.1.4" not in versions(client)
