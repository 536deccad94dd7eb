"""The window, the tray and files, on a real local host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from synthral_desktop.app import DesktopApp
from synthral_desktop.client import ApiClient
from synthral_desktop.dialogs import PluginsDialog, SettingsDialog
from synthral_desktop.single import SingleInstance
from tests.conftest import execution, save_workflow, wait_for, wait_status

FILES = {
    "name": "files",
    "nodes": [{"id": "pick", "type": "core/transform", "config": {"mapping": {"name": "name", "size": "file.size"}}}],
}
FAILS = {
    "name": "fails",
    "nodes": [{"id": "pick", "type": "core/transform", "config": {"mapping": {"x": "missing"}, "on_missing": "error"}}],
    "settings": {"retry": {"max_attempts": 1}},
}
ASKS = {
    "name": "asks",
    "nodes": [{"id": "approve", "type": "engine/human_input", "config": {"prompt": "Approve the invoice?"}}],
}


def page_text(desktop: DesktopApp) -> str:
    assert desktop.window is not None
    found: list[str] = []
    desktop.window.view.page().runJavaScript("document.title + ' | ' + document.body.innerText", 0, found.append)
    wait_for(lambda: found, timeout=30, what="the page's text")
    return found[0]


def test_the_window_shows_the_builder_from_the_local_host(desktop: DesktopApp) -> None:
    assert desktop.window is not None
    endpoint = desktop.supervisor.endpoint
    assert endpoint is not None
    wait_for(lambda: desktop.window.view.url().port() == endpoint.port, what="the web app's URL")  # type: ignore[union-attr]
    wait_for(lambda: "SynthralOS" in page_text(desktop) and "Workflows" in page_text(desktop), what="the builder")
    assert desktop.window.isVisible()


def test_the_page_cannot_reach_anything_but_the_local_host(desktop: DesktopApp) -> None:
    assert desktop.window is not None
    endpoint = desktop.supervisor.endpoint
    assert endpoint is not None
    # The web app's own policy already refuses other origins for its requests; the window stops the rest.
    desktop.window.view.load(QUrl("http://example.com/x"))
    wait_for(lambda: any("example.com" in url for url in desktop.window.interceptor.blocked), what="a block")  # type: ignore[union-attr]
    desktop.window.view.load(QUrl(f"http://127.0.0.1:{endpoint.port + 1}/"))
    wait_for(lambda: any(f":{endpoint.port + 1}/" in url for url in desktop.window.interceptor.blocked), what="a block")  # type: ignore[union-attr]
    desktop.window.open(endpoint.port, endpoint.launch_url("/"))


def test_tray_counts_and_notifications_follow_real_runs(desktop: DesktopApp, client: ApiClient) -> None:
    assert desktop.tray is not None
    save_workflow(client, FAILS)
    save_workflow(client, ASKS)
    wait_for(lambda: desktop.events._socket is not None, what="the event stream")
    failed_before = desktop.tray.counts["failed"]
    failing = client.call("POST", "/workflows/fails/run", json={})["execution_id"]
    wait_status(client, failing, "failed")
    wait_for(lambda: desktop.tray.counts["failed"] == failed_before + 1, what="the failed count")  # type: ignore[union-attr]
    wait_for(lambda: desktop.tray.last_notification is not None, what="a notification")  # type: ignore[union-attr]
    assert desktop.tray.last_notification[2] == f"/executions/{failing}"
    assert "fails failed" in desktop.tray.last_notification[0]

    asking = client.call("POST", "/workflows/asks/run", json={})["execution_id"]
    wait_status(client, asking, "waiting")
    wait_for(lambda: desktop.tray.counts["waiting"] >= 1, what="the waiting count")  # type: ignore[union-attr]
    wait_for(lambda: "asks waits" in desktop.tray.last_notification[0], what="the waiting notification")  # type: ignore[union-attr,index]
    assert "waiting" in desktop.tray.status_text()

    # Clicking the notification opens that execution in the window.
    desktop.tray.icon.messageClicked.emit()
    assert desktop.window is not None
    wait_for(lambda: desktop.window.current_path() == f"/executions/{asking}", what="the execution page")  # type: ignore[union-attr]
    names = [action.text() for action in desktop.tray.run_menu.actions()]
    assert "asks" in names
    assert "fails" in names
    client.call("POST", f"/executions/{asking}/cancel")


def test_a_file_dropped_on_the_window_starts_a_run_that_completes(
    desktop: DesktopApp, client: ApiClient, tmp_path: Path
) -> None:
    save_workflow(client, FILES)
    desktop.drop_workflow = "files"
    invoice = tmp_path / "invoice.txt"
    invoice.write_text("INVOICE 42.00")
    started: list[list[str]] = []
    desktop.runs_started.connect(started.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(invoice))])
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
    wait_for(lambda: started, what="a run")
    done = wait_status(client, started[0][0], "completed")
    assert done["output"]["pick"]["data"] == {"name": "invoice.txt", "size": len("INVOICE 42.00")}
    assert execution(client, started[0][0])["input"]["file"]["name"] == "invoice.txt"


def test_a_bad_drop_loses_nothing_and_says_why(desktop: DesktopApp, client: ApiClient, tmp_path: Path) -> None:
    desktop.drop_workflow = "no-such-workflow"
    (tmp_path / "a.txt").write_text("a")
    assert desktop.open_files([str(tmp_path / "a.txt")]) == []
    assert "no workflow named 'no-such-workflow'" in desktop.errors[-1]
    desktop.drop_workflow = "files"
    assert desktop.open_files([str(tmp_path)]) == []
    assert "drop files, not folders" in desktop.errors[-1]


def test_a_second_launch_hands_its_files_to_the_first_and_exits(desktop: DesktopApp, tmp_path: Path) -> None:
    received: list[list[str]] = []
    desktop.single.activated.connect(received.append)
    note = tmp_path / "note.txt"
    note.write_text("hi")
    second = subprocess.Popen(
        [sys.executable, "-m", "synthral", "desktop", "--home", str(desktop.home), str(note)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: second.poll() is not None and received, timeout=120, what="the hand-over")
    _, errors = second.communicate(timeout=10)
    assert second.returncode == 0, errors
    assert received == [[str(note)]]
    assert SingleInstance(desktop.home).hand_over([]) is True  # the first still answers


def test_the_tray_menu_pauses_and_resumes_every_schedule(desktop: DesktopApp, client: ApiClient) -> None:
    assert desktop.tray is not None
    save_workflow(client, {**FILES, "name": "nightly", "triggers": [{"type": "cron", "cron": "0 3 * * *"}]})
    desktop.tray.pause_action.setChecked(True)
    schedules = client.call("GET", "/workflows/nightly/schedules")
    items = schedules["items"] if isinstance(schedules, dict) else schedules
    assert [s["is_active"] for s in items] == [False]
    desktop.tray.pause_action.setChecked(False)
    schedules = client.call("GET", "/workflows/nightly/schedules")
    items = schedules["items"] if isinstance(schedules, dict) else schedules
    assert [s["is_active"] for s in items] == [True]


def test_the_settings_dialog_manages_watched_folders_and_names_bad_ones(
    desktop: DesktopApp, client: ApiClient, tmp_path: Path
) -> None:
    save_workflow(client, FILES)
    dialog = desktop.open_settings()
    assert isinstance(dialog, SettingsDialog)
    dialog.add_folder("files", str(tmp_path / "missing"))
    assert "does not exist or is not a folder; create it first" in dialog.problem.text()
    assert dialog.folders.count() == 0
    dialog.add_folder("files", str(tmp_path), "*.pdf")
    assert dialog.folders.count() == 1
    assert str(tmp_path) in dialog.folders.item(0).text()
    dialog.folders.setCurrentRow(0)
    dialog.remove_current()
    assert dialog.folders.count() == 0
    dialog.login.setChecked(True)
    dialog.save()
    from synthral_desktop import autostart

    assert autostart.is_enabled()
    autostart.disable()
    dialog.close()


def test_the_plugin_manager_lists_plugins_and_reports_a_failed_install(desktop: DesktopApp) -> None:
    dialog = desktop.open_plugins()
    assert isinstance(dialog, PluginsDialog)
    names = {dialog.table.item(row, 1).text() for row in range(dialog.table.rowCount())}
    assert "core" in names
    failures = dialog.install(["not a pin"])
    assert dialog.progress.value() == 1
    assert dialog.progress.maximum() == 1
    assert failures
    assert "is not a pin; write NAME==VERSION" in failures[0]
    assert "is not a pin" in dialog.message.text()
    dialog.close()


def test_another_local_program_cannot_drive_the_desktops_host(desktop: DesktopApp) -> None:
    import httpx

    endpoint = desktop.supervisor.endpoint
    assert endpoint is not None
    assert endpoint.token
    anonymous = httpx.get(f"{endpoint.base}/api/v1/desktop/summary", trust_env=False, timeout=30)
    assert anonymous.status_code == 401
    wrong = httpx.post(
        f"{endpoint.base}/api/v1/desktop/files",
        json={"workflow": "files", "paths": ["/etc/passwd"]},
        headers={"Authorization": "Bearer not-the-launch-token"},
        trust_env=False,
        timeout=30,
    )
    assert wrong.status_code == 401
    allowed = httpx.get(f"{endpoint.base}/api/v1/desktop/summary", headers=endpoint.headers(), trust_env=False)
    assert allowed.status_code == 200
