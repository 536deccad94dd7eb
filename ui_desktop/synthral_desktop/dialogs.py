"""Native dialogs: settings (data folder, start at login, watched folders), plugins, promote and pull."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from synthral_desktop import autostart
from synthral_desktop.client import ApiClient, ApiError
from synthral_desktop.permissions import Approve, ask, install_approved
from synthral_desktop.promote import PluginsMissing, Transfer, load_key, normalize_url, save_key

__all__ = ["PluginsDialog", "PromoteDialog", "SettingsDialog", "app_settings"]


def app_settings() -> QSettings:
    """The app's own preferences (data folder, last server URL): never a secret."""
    return QSettings("SynthralOS", "synthral-desktop")


class SettingsDialog(QDialog):
    """Data folder, start at login and the watched folders."""

    def __init__(self, client: ApiClient, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SynthralOS settings")
        self.client = client
        self.home = home
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.folder = QLineEdit(str(home))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_home)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Data folder (used at next start)", row)
        self.login = QCheckBox("Start SynthralOS when I log in (in the tray)")
        self.login.setChecked(autostart.is_enabled())
        form.addRow(self.login)
        layout.addLayout(form)
        layout.addWidget(QLabel("Watched folders: each new file starts the workflow once"))
        self.folders = QListWidget()
        layout.addWidget(self.folders)
        buttons = QHBoxLayout()
        add = QPushButton("Watch a folder…")
        add.clicked.connect(self._add_folder)
        remove = QPushButton("Stop watching")
        remove.clicked.connect(self.remove_current)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        layout.addLayout(buttons)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b91c1c")
        layout.addWidget(self.problem)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.save)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.reload()

    def reload(self) -> None:
        """Read the watched folders from the host."""
        self.folders.clear()
        for folder in self.client.items("/desktop/watched-folders"):
            item = QListWidgetItem(f"{folder['path']}  ({folder['pattern']})  →  {folder['workflow']}")
            item.setData(Qt.ItemDataRole.UserRole, folder["id"])
            self.folders.addItem(item)

    def _choose_home(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Data folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to watch")
        if not path:
            return
        names = [w["name"] for w in self.client.items("/workflows")]
        if not names:
            QMessageBox.information(self, "No workflow", "Save a workflow first; a new file will start it.")
            return
        workflow, ok = QInputDialog.getItem(self, "Watched folder", "Start this workflow", names, 0, False)
        if not ok:
            return
        pattern, ok = QInputDialog.getText(self, "Watched folder", "Only files named like (e.g. *.pdf)", text="*")
        if ok:
            self.add_folder(workflow, path, pattern or "*")

    def add_folder(self, workflow: str, path: str, pattern: str = "*") -> None:
        """Watch ``path`` for ``workflow`` (errors are shown, nothing is lost)."""
        try:
            self.client.call(
                "POST", "/desktop/watched-folders", json={"workflow": workflow, "path": path, "pattern": pattern}
            )
            self.problem.setText("")
        except ApiError as exc:
            self.problem.setText(f"Cannot watch {path}: {exc.message}")
        self.reload()

    def remove_current(self) -> None:
        """Stop watching the selected folder."""
        item = self.folders.currentItem()
        if item is not None:
            self.client.call("DELETE", f"/desktop/watched-folders/{item.data(Qt.ItemDataRole.UserRole)}")
            self.reload()

    def save(self) -> None:
        """Keep the data folder and the start-at-login choice."""
        settings = app_settings()
        settings.setValue("home", self.folder.text())
        home = Path(self.folder.text())
        if self.login.isChecked():
            autostart.enable(home)
        else:
            autostart.disable()
        self.accept()


class PluginsDialog(QDialog):
    """Installed plugins: which may run (enabled), and installs and updates with a progress bar.

    Every install whose plugin declares permissions not granted yet shows them first
    (:class:`~synthral_desktop.permissions.PermissionDialog`) and goes ahead only on Approve.
    """

    def __init__(self, client: ApiClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(640, 420)
        self.client = client
        self.approve: Approve = ask(self)
        """Asked before a plugin is granted what it declares."""
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["May run", "Plugin", "Version", "Summary"])
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        buttons = QHBoxLayout()
        install = QPushButton("Install or update…")
        install.clicked.connect(self._ask_install)
        buttons.addWidget(install)
        wheel = QPushButton("Install a wheel file…")
        wheel.clicked.connect(self._ask_wheel)
        buttons.addWidget(wheel)
        buttons.addStretch()
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.reload()

    def reload(self) -> None:
        """Read the plugins from the host."""
        self.table.blockSignals(True)
        plugins = self.client.items("/plugins")
        self.table.setRowCount(len(plugins))
        for row, plugin in enumerate(plugins):
            check = QTableWidgetItem()
            flags = Qt.ItemFlag.ItemIsEnabled | (
                Qt.ItemFlag.NoItemFlags if plugin.get("builtin") else Qt.ItemFlag.ItemIsUserCheckable
            )
            check.setFlags(flags)
            check.setCheckState(Qt.CheckState.Checked if plugin.get("enabled", True) else Qt.CheckState.Unchecked)
            check.setData(Qt.ItemDataRole.UserRole, f"{plugin['name']}=={plugin['version']}")
            self.table.setItem(row, 0, check)
            for column, key in ((1, "name"), (2, "version"), (3, "summary")):
                self.table.setItem(row, column, QTableWidgetItem(str(plugin.get(key) or "")))
        self.table.blockSignals(False)
        self.table.itemChanged.connect(self._toggled, Qt.ConnectionType.UniqueConnection)

    def _toggled(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        self.set_enabled(str(item.data(Qt.ItemDataRole.UserRole)), item.checkState() == Qt.CheckState.Checked)

    def set_enabled(self, pin: str, enabled: bool) -> None:
        """Allow (or stop) a plugin version from running."""
        try:
            self.client.call("POST", f"/plugins/{pin}/{'enable' if enabled else 'disable'}")
            self.message.setText(f"{pin} {'may run' if enabled else 'is disabled'}")
        except ApiError as exc:
            self.message.setText(exc.message)
        self.reload()

    def _ask_install(self) -> None:
        text, ok = QInputDialog.getText(self, "Install or update", "Plugins (NAME==VERSION, separated by spaces)")
        if ok and text.strip():
            self.install(text.split())

    def _ask_wheel(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Install a plugin wheel", "", "Plugin wheels (*.whl)")
        if path:
            self.install_wheel(Path(path))

    def install(self, specs: list[str]) -> list[str]:
        """Install each ``NAME==VERSION`` (a newer version installs beside the old one); the failures."""
        return self._install([(spec, {"spec": spec}) for spec in specs])

    def install_wheel(self, wheel: Path) -> list[str]:
        """Install a plugin wheel file; the failures (one at most)."""
        if wheel.suffix != ".whl" or not wheel.is_file():
            self.message.setText(f"{wheel} is not a plugin wheel file (NAME-VERSION-...-any.whl); choose one")
            return [str(wheel)]
        return self._install([(wheel.name, {"wheel": wheel})])

    def _install(self, jobs: list[tuple[str, dict[str, Any]]]) -> list[str]:
        self.progress.setRange(0, len(jobs))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        failures, installed, cancelled = [], [], []
        for index, (label, source) in enumerate(jobs, start=1):
            self.progress.setFormat(f"installing {label} (%v of %m)")
            try:
                answer = install_approved(self.client, self.approve, **source)
            except ApiError as exc:
                failures.append(f"{label}: {exc.message}")
            else:
                if answer is None:
                    cancelled.append(label)
                else:
                    installed.append(f"{answer.get('name')} {answer.get('version')}")
            self.progress.setValue(index)
        lines = failures + [f"{label}: not installed, its permissions were not approved" for label in cancelled]
        if installed:
            lines.append(f"installed {', '.join(installed)}")
        self.message.setText("\n".join(lines))
        self.reload()
        return failures + cancelled


class PromoteDialog(QDialog):
    """Promote a workflow to a team server or pull one from it; the API key goes to the OS keyring."""

    def __init__(self, local: ApiClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Promote to server / pull")
        self.local = local
        layout = QFormLayout(self)
        self.workflow = QComboBox()
        self.workflow.setEditable(True)
        for workflow in local.items("/workflows"):
            self.workflow.addItem(str(workflow["name"]))
        self.url = QLineEdit(str(app_settings().value("server_url", "")))
        self.url.editingFinished.connect(self._fill_key)
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.install = QCheckBox("Install missing plugins on the server (owner's key)")
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        layout.addRow("Workflow", self.workflow)
        layout.addRow("Server URL", self.url)
        layout.addRow("API key (kept in the OS keyring)", self.key)
        layout.addRow(self.install)
        buttons = QDialogButtonBox()
        buttons.addButton("Promote", QDialogButtonBox.ButtonRole.AcceptRole).clicked.connect(
            lambda: self.run("promote")
        )
        buttons.addButton("Pull", QDialogButtonBox.ButtonRole.ActionRole).clicked.connect(lambda: self.run("pull"))
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        layout.addRow(buttons)
        layout.addRow(self.outcome)
        self._fill_key()

    def _fill_key(self) -> None:
        try:
            key = load_key(self.url.text()) if self.url.text().strip() else None
        except ValueError:
            key = None
        if key and not self.key.text():
            self.key.setText(key)

    def run(self, direction: str) -> dict[str, Any] | None:
        """Promote or pull the chosen workflow; the answer, or None after showing why not."""
        try:
            url = normalize_url(self.url.text())
            save_key(url, self.key.text())
        except ValueError as exc:
            self.outcome.setText(str(exc))
            return None
        app_settings().setValue("server_url", url)
        remote = ApiClient(url, {"Authorization": f"Bearer {load_key(url)}"})
        try:
            transfer = Transfer(self.local, remote, approve=ask(self))
            name = self.workflow.currentText()
            if direction == "promote":
                saved = transfer.promote(name, install_missing=self.install.isChecked())
            else:
                saved = transfer.pull(name)
        except (ApiError, PluginsMissing) as exc:
            self.outcome.setText(str(exc))
            return None
        finally:
            remote.close()
        where = url if direction == "promote" else "this desktop"
        pins = saved.get("plugin_versions") or "built-ins only"
        self.outcome.setText(f"{saved['name']} v{saved['version']} is on {where}, pinned to {pins}")
        return saved
