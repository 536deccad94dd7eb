"""The tray icon: counts of running, waiting and failed runs, recent workflows to run, notifications.

Counts are read from the host when an execution event arrives (and when the menu opens),
never on a timer. A run that fails or waits for a person shows a native notification;
clicking it opens that execution in the window.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

__all__ = ["NOTIFY_EVENTS", "Tray"]

NOTIFY_EVENTS = {"execution.failed": "failed", "execution.waiting": "waits for an answer"}


class Tray(QObject):
    """The tray icon and its menu.

    Signals:
        open_requested(str): Show the window at this path of the web app ("/" or "/executions/ID").
        run_requested(str): Run this workflow (id) now.
        pause_requested(bool): Pause (True) or resume every schedule.
        settings_requested(), plugins_requested(), promote_requested(), quit_requested()
    """

    open_requested = Signal(str)
    run_requested = Signal(str)
    pause_requested = Signal(bool)
    settings_requested = Signal()
    plugins_requested = Signal()
    promote_requested = Signal()
    quit_requested = Signal()

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(icon, self)
        self.counts: dict[str, int] = {"running": 0, "waiting": 0, "failed": 0}
        self.last_notification: tuple[str, str, str] | None = None
        self._clicked_path = "/"
        self.menu = QMenu()
        self.status_action = QAction("Starting…", self.menu)
        self.status_action.setEnabled(False)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.open_action = self.menu.addAction("Open SynthralOS")
        self.open_action.triggered.connect(lambda: self.open_requested.emit("/"))
        self.run_menu = self.menu.addMenu("Run a workflow")
        self.pause_action = self.menu.addAction("Pause all schedules")
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self.pause_requested.emit)
        self.menu.addSeparator()
        self.menu.addAction("Plugins…").triggered.connect(self.plugins_requested.emit)
        self.menu.addAction("Promote or pull…").triggered.connect(self.promote_requested.emit)
        self.menu.addAction("Settings…").triggered.connect(self.settings_requested.emit)
        self.menu.addSeparator()
        self.menu.addAction("Quit SynthralOS").triggered.connect(self.quit_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(lambda: self.open_requested.emit(self._clicked_path))
        self.icon.setToolTip("SynthralOS")

    def show(self) -> None:
        """Put the icon in the tray."""
        self.icon.show()

    def hide(self) -> None:
        """Take the icon out of the tray."""
        self.icon.hide()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_requested.emit("/")

    def set_offline(self, reason: str) -> None:
        """Show that the local host is restarting."""
        self.status_action.setText(f"Reconnecting: {reason[:80]}")
        self.icon.setToolTip("SynthralOS: reconnecting to the local host")

    def update_summary(self, summary: dict[str, Any]) -> None:
        """Show the host's counts and recent workflows."""
        self.counts = {key: int(summary.get(key, 0)) for key in ("running", "waiting", "failed")}
        text = self.status_text()
        self.status_action.setText(text)
        self.icon.setToolTip(f"SynthralOS: {text}")
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(int(summary.get("paused_schedules", 0)) > 0)
        self.pause_action.blockSignals(False)
        self.run_menu.clear()
        recent = summary.get("recent") or []
        for workflow in recent:
            action = self.run_menu.addAction(str(workflow["name"]))
            action.triggered.connect(lambda _=False, wid=str(workflow["id"]): self.run_requested.emit(wid))
        self.run_menu.setEnabled(bool(recent))

    def status_text(self) -> str:
        """``N running · N waiting · N failed``."""
        return " · ".join(f"{self.counts[key]} {key}" for key in ("running", "waiting", "failed"))

    def notify(self, event: dict[str, Any], workflow: str) -> None:
        """A native notification for a failed or waiting run; clicking it opens the execution."""
        what = NOTIFY_EVENTS.get(str(event.get("event")))
        if what is None:
            return
        execution_id = str(event.get("execution_id"))
        title = f"{workflow} {what}"
        body = str(event.get("error_message") or event.get("waiting_for") or "Click to open the run.")[:200]
        self._clicked_path = f"/executions/{execution_id}"
        self.last_notification = (title, body, self._clicked_path)
        icon = QSystemTrayIcon.MessageIcon.Critical if what == "failed" else QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, body, icon, 10000)
