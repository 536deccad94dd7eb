"""The desktop app: data folder checks, the supervised host, the window, the tray, files and events.

Every action goes through the local host's HTTP API (the one the web app and the CLI use);
the app adds only what a desktop can do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QWidget

from synthral_desktop.client import ApiClient, ApiError
from synthral_desktop.datafolder import DatabaseRefused, DataFolderBusy, DataFolderLock, check_database
from synthral_desktop.dialogs import PluginsDialog, PromoteDialog, SettingsDialog
from synthral_desktop.events import EventStream
from synthral_desktop.single import SingleInstance
from synthral_desktop.supervisor import HostEndpoint, HostSupervisor
from synthral_desktop.tray import Tray
from synthral_desktop.window import MainWindow

__all__ = ["DesktopApp", "StartRefused", "app_icon"]


class StartRefused(Exception):
    """The app must not start on this data folder; the message says why and what to do."""


def app_icon() -> QIcon:
    """The app's icon, drawn (no image file to ship or load)."""
    pixmap = QPixmap(64, 64)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor("#4f46e5"))
    painter.setPen(QColor("#4f46e5"))
    painter.drawRoundedRect(4, 4, 56, 56, 14, 14)
    painter.setPen(QColor("white"))
    font = painter.font()
    font.setPixelSize(38)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect(), 0x84, "S")  # Qt.AlignCenter
    painter.end()
    return QIcon(pixmap)


class DesktopApp(QObject):
    """One running desktop app on one data folder.

    Args:
        home: The data folder.
        interactive: Show message boxes and dialogs (False in tests: errors are raised or recorded).

    Signals:
        connected(HostEndpoint): The window shows the builder from a (re)started host.
        summary_changed(dict): The tray's counts were refreshed.
        runs_started(list): Runs were started from files (their ids).
    """

    connected = Signal(object)
    summary_changed = Signal(dict)
    runs_started = Signal(list)

    def __init__(self, home: Path, *, interactive: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = home.expanduser().resolve()
        self.interactive = interactive
        self.drop_workflow: str | None = None
        """The workflow dropped files start; asked for each drop when None."""
        self.pending_files: list[str] = []
        self.errors: list[str] = []
        self.client: ApiClient | None = None
        self.workflow_names: dict[str, str] = {}
        self.lock = DataFolderLock(self.home)
        self.single = SingleInstance(self.home, self)
        self.supervisor = HostSupervisor(self.home, self)
        self.events = EventStream(self)
        self.window: MainWindow | None = None
        self.tray: Tray | None = None

    def start(self, files: list[str] | None = None, *, minimized: bool = False) -> None:
        """Check the data folder, start the host, show the window and the tray.

        Raises:
            StartRefused: Another app uses the folder, or the database is corrupt or newer.
        """
        try:
            self.lock.acquire()
        except DataFolderBusy as exc:
            raise StartRefused(str(exc)) from None
        try:
            check_database(self.home)
        except DatabaseRefused as exc:
            self.lock.release()
            raise StartRefused(str(exc)) from None
        self.single.listen()
        self.single.activated.connect(self._activated)
        # The host first: its start (a second or two of imports and opening the database) runs
        # in its own process while this one builds the window and starts Chromium.
        self.supervisor.ready.connect(self._ready)
        self.supervisor.lost.connect(self._lost)
        self.supervisor.failed.connect(self._failed)
        self.supervisor.start()
        icon = app_icon()
        QApplication.setWindowIcon(icon)
        self.window = MainWindow()
        self.window.files_dropped.connect(self.open_files)
        self.window.hidden_to_tray.connect(self._hidden)
        self.tray = Tray(icon, self)
        self.tray.open_requested.connect(self.show_path)
        self.tray.run_requested.connect(self.run_workflow)
        self.tray.pause_requested.connect(self.pause_schedules)
        self.tray.settings_requested.connect(self.open_settings)
        self.tray.plugins_requested.connect(self.open_plugins)
        self.tray.promote_requested.connect(self.open_promote)
        self.tray.quit_requested.connect(self.quit)
        self.tray.show()
        self.events.received.connect(self._event)
        self.pending_files = list(files or [])
        if not minimized:
            self.window.show()

    # -- the host ----------------------------------------------------------------------------

    def _ready(self, endpoint: HostEndpoint) -> None:
        assert self.window is not None
        if self.client is not None:
            self.client.close()
        self.client = ApiClient(endpoint.base, endpoint.headers())
        path = self.window.current_path()
        self.window.open(endpoint.port, endpoint.launch_url(path if path != "/" else "/"))
        self.events.connect_to(endpoint)
        self.refresh()
        if self.pending_files:
            files, self.pending_files = self.pending_files, []
            self.open_files(files)
        self.connected.emit(endpoint)

    def _lost(self, reason: str) -> None:
        self.events.close()
        if self.window is not None:
            self.window.show_message("Reconnecting…", f"{reason}. The local host is restarting; runs resume.")
        if self.tray is not None:
            self.tray.set_offline(reason)

    def _failed(self, reason: str) -> None:
        self.errors.append(reason)
        if self.window is not None:
            self.window.show_message("The local host does not start", reason)
        if self.interactive:
            QMessageBox.critical(self.window, "SynthralOS", f"{reason}\n\nRun 'synthral desktop -v' to see its log.")

    # -- tray and notifications ------------------------------------------------------------------

    def refresh(self) -> dict[str, Any] | None:
        """Read the counts and recent workflows from the host into the tray."""
        if self.client is None or self.tray is None:
            return None
        try:
            summary: dict[str, Any] = self.client.call("GET", "/desktop/summary")
        except ApiError as exc:
            self.errors.append(exc.message)
            return None
        self.workflow_names.update({str(w["id"]): str(w["name"]) for w in summary.get("recent", [])})
        self.tray.update_summary(summary)
        self.summary_changed.emit(summary)
        return summary

    def _event(self, event: dict[str, Any]) -> None:
        if not str(event.get("event", "")).startswith("execution."):
            return
        self.refresh()
        if self.tray is not None:
            workflow_id = str(event.get("workflow_id"))
            self.tray.notify(event, self.workflow_names.get(workflow_id, "A workflow"))

    def show_path(self, path: str) -> None:
        """Show the window at ``path`` of the web app."""
        assert self.window is not None
        endpoint = self.supervisor.endpoint
        if endpoint is not None and self.window.current_path() != path:
            self.window.open(endpoint.port, f"{endpoint.base}{path}")
        self.window.raise_window()

    def run_workflow(self, workflow_id: str) -> str | None:
        """Run a workflow now (from the tray); the run's id."""
        if self.client is None:
            return None
        try:
            accepted = self.client.call("POST", f"/workflows/{workflow_id}/run", json={})
        except ApiError as exc:
            self._complain("Cannot run the workflow", exc.message)
            return None
        return str(accepted["execution_id"])

    def pause_schedules(self, paused: bool) -> None:
        """Pause or resume every schedule."""
        if self.client is not None:
            self.client.call("POST", "/desktop/schedules/pause", json={"paused": paused})
            self.refresh()

    # -- files -----------------------------------------------------------------------------------

    def open_files(self, files: list[str]) -> list[str]:
        """Start the drop workflow with each file (asking which one when not set); the run ids.

        Plugin wheels (``*.whl``) among them are installed instead, each after its permissions
        are approved in the permission dialog.
        """
        if not files:
            return []
        if self.client is None:
            self.pending_files.extend(files)
            return []
        wheels = [file for file in files if file.endswith(".whl")]
        if wheels:
            self.install_wheels(wheels)
            files = [file for file in files if file not in wheels]
            if not files:
                return []
        workflow = self.drop_workflow or self._choose_workflow(len(files))
        if workflow is None:
            return []
        try:
            started = self.client.call("POST", "/desktop/files", json={"workflow": workflow, "paths": files})
        except ApiError as exc:
            self._complain("Cannot start the workflow with these files", exc.message)
            return []
        ids = [str(i) for i in started["execution_ids"]]
        self.runs_started.emit(ids)
        self.refresh()
        return ids

    def install_wheels(self, wheels: list[str]) -> list[str]:
        """Install plugin wheel files, each only after its permissions are approved; the failures."""
        assert self.client is not None
        dialog = PluginsDialog(self.client, parent=self.window)
        failures = [failure for wheel in wheels for failure in dialog.install_wheel(Path(wheel))]
        if failures:
            self._complain("Plugins not installed", dialog.message.text())
        elif self.interactive:
            dialog.exec()  # the list, with the new version in it
        return failures

    def _choose_workflow(self, count: int) -> str | None:
        assert self.client is not None
        names = [str(w["name"]) for w in self.client.items("/workflows")]
        if not names or not self.interactive:
            self._complain("No workflow for these files", "Save a workflow first; each file starts it once.")
            return None
        name, ok = QInputDialog.getItem(
            self.window, "Start a workflow", f"Start which workflow with {count} file(s)?", names, 0, False
        )
        return name if ok else None

    def _activated(self, files: list[str]) -> None:
        if self.window is not None:
            self.window.raise_window()
        self.open_files(files)

    # -- dialogs and quitting -------------------------------------------------------------------

    def open_settings(self) -> SettingsDialog | None:
        """The settings dialog."""
        return self._dialog(SettingsDialog, self.home) if self.client else None

    def open_plugins(self) -> PluginsDialog | None:
        """The plugin manager."""
        return self._dialog(PluginsDialog) if self.client else None

    def open_promote(self) -> PromoteDialog | None:
        """Promote to a server, or pull from one."""
        return self._dialog(PromoteDialog) if self.client else None

    def _dialog(self, kind: Any, *args: Any) -> Any:
        dialog = kind(self.client, *args, parent=self.window)
        if self.interactive:
            dialog.exec()
        return dialog

    def _hidden(self) -> None:
        if self.tray is not None and self.interactive:
            self.tray.icon.showMessage("SynthralOS", "Still running in the tray; quit from its menu.")

    def _complain(self, title: str, text: str) -> None:
        self.errors.append(text)
        if self.interactive:
            QMessageBox.warning(self.window, title, text)

    def quit(self) -> None:
        """Stop the host and leave."""
        self.shutdown()
        QApplication.quit()

    def shutdown(self) -> None:
        """Stop the host, the tray and the single-instance socket; release the data folder."""
        self.events.close()
        self.supervisor.stop()
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.quitting = True
            self.window.close()
            self.window.dispose()
            self.window.deleteLater()
            self.window = None
        self.single.close()
        self.lock.release()


def refuse(message: str, parent: QWidget | None = None) -> None:
    """Tell the person why the app does not start."""
    QMessageBox.critical(parent, "SynthralOS cannot start", message)
