"""The main window: the web builder from the local host in a QWebEngineView, and file drops.

The page may load only from the local host: every other request (the internet, another
local port, file://) is blocked, so nothing the app shows comes from outside this machine
and no page can reach another local service through it. Closing the window keeps the app
in the tray; dropping files on it starts a workflow with them.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QMainWindow, QWidget

__all__ = ["LocalOnly", "MainWindow"]

WAITING_PAGE = """<!doctype html><meta charset="utf-8"><title>SynthralOS</title>
<body style="font-family: system-ui, sans-serif; display: grid; place-items: center; height: 90vh; color: #444">
<div><h2>{title}</h2><p>{text}</p></div>"""


class LocalOnly(QWebEngineUrlRequestInterceptor):
    """Blocks every request that is not for the local host's origin (or an inline data:/blob: URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.port: int | None = None
        self.blocked: list[str] = []

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 -- Qt's name
        """Let a request through only when it stays on ``127.0.0.1:port``."""
        url = info.requestUrl()
        if url.scheme() in ("data", "blob"):
            return
        if url.scheme() in ("http", "ws") and url.host() == "127.0.0.1" and url.port() == self.port:
            return
        self.blocked.append(url.toString())
        info.block(True)


class MainWindow(QMainWindow):
    """The builder window.

    Signals:
        files_dropped(list): Local files dropped on the window.
        hidden_to_tray(): The window was closed while the app keeps running.
    """

    files_dropped = Signal(list)
    hidden_to_tray = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SynthralOS")
        self.resize(1280, 820)
        self.quitting = False
        self.interceptor = LocalOnly()
        # The view first: children are deleted in creation order, and a page must go before its profile.
        self.view = QWebEngineView(self)
        self.profile = QWebEngineProfile(self)  # off the record: the launch cookie dies with the app
        self.profile.setUrlRequestInterceptor(self.interceptor)
        self.view.setPage(QWebEnginePage(self.profile, self.view))
        self.view.setAcceptDrops(False)  # drops reach the window, not Chromium (which would open the file)
        self.setAcceptDrops(True)
        self.setCentralWidget(self.view)
        self.show_message("Starting SynthralOS…", "The local host is starting.")

    def dispose(self) -> None:
        """Delete the page before its profile (Chromium's order), now rather than at interpreter exit."""
        from shiboken6 import Shiboken

        self.view.page().deleteLater()
        Shiboken.delete(self.view)
        Shiboken.delete(self.profile)

    def show_message(self, title: str, text: str) -> None:
        """Show a plain page (while the host starts or restarts)."""
        self.view.setHtml(WAITING_PAGE.format(title=title, text=text))

    def open(self, port: int, url: str) -> None:
        """Load ``url`` from the local host at ``port``."""
        self.interceptor.port = port
        self.view.load(QUrl(url))

    def current_path(self) -> str:
        """The web app's current path (kept across a reconnect)."""
        url = self.view.url()
        if url.scheme() != "http":
            return "/"
        return url.path() or "/"

    def raise_window(self) -> None:
        """Show and focus the window."""
        self.show()
        self.setWindowState(self.windowState() & ~self.windowState().WindowMinimized)
        self.raise_()
        self.activateWindow()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 -- Qt's name
        """Accept local files."""
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 -- Qt's name
        """Hand the dropped local files on."""
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.files_dropped.emit(files)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 -- Qt's name
        """Hide to the tray unless the app is quitting."""
        if self.quitting:
            event.accept()
            return
        event.ignore()
        self.hide()
        self.hidden_to_tray.emit()
