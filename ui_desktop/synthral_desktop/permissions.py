"""Installing a plugin with the owner's approval of what it declares, and the native dialog that asks.

The host refuses an install whose plugin declares permissions nobody granted with the problem
``approval_required``; its details carry one plain sentence per permission (as the CLI prints
them) and the missing grant items. Nothing is installed by the refusal. The desktop shows them
in :class:`PermissionDialog`, marking what an upgrade asks for beyond the installed version's
grant, and only on Approve installs again with those items in the ``grant`` field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from synthral_desktop.client import ApiClient, ApiError

__all__ = ["Approve", "PermissionDialog", "PermissionRequest", "PreviousGrant", "ask", "install_approved"]


@dataclass(frozen=True)
class PermissionRequest:
    """What an ``approval_required`` refusal says a plugin asks for."""

    plugin: str
    version: str
    permissions: list[str]
    """One plain sentence per permission."""
    missing: list[str]
    """The grant items to send back to approve."""

    @classmethod
    def of(cls, error: ApiError) -> PermissionRequest | None:
        """The request ``error`` carries, or None when it is another error."""
        if error.code != "approval_required":
            return None
        details = error.problem.get("details")
        details = details if isinstance(details, dict) else {}

        def strings(key: str) -> list[str]:
            value = details.get(key)
            return [str(item) for item in value] if isinstance(value, list) else []

        return cls(
            plugin=str(details.get("plugin") or ""),
            version=str(details.get("version") or ""),
            permissions=strings("permissions"),
            missing=strings("missing"),
        )


@dataclass(frozen=True)
class PreviousGrant:
    """The installed version an upgrade is compared with, and what it was granted."""

    version: str
    granted: list[str]

    @classmethod
    def of(cls, client: ApiClient, plugin: str) -> PreviousGrant | None:
        """The latest installed version of ``plugin`` on ``client``'s host, or None (a first install)."""
        try:
            detail = client.call("GET", f"/plugins/{plugin}")
        except ApiError:
            return None
        versions = [v for v in detail.get("versions") or [] if not v.get("builtin")]
        if not versions:
            return None
        latest = versions[-1]
        return cls(str(latest.get("version")), [str(line) for line in latest.get("grantDescribed") or []])


Approve = Callable[[PermissionRequest, PreviousGrant | None], bool]
"""Asked when a plugin needs approval; True installs it granting what it asks for."""


def install_approved(
    client: ApiClient,
    approve: Approve | None,
    *,
    spec: str | None = None,
    wheel: Path | None = None,
    timeout: float = 600,
) -> dict[str, Any] | None:
    """Install ``spec`` (NAME==VERSION) or ``wheel`` on ``client``'s host, asking ``approve`` if it must.

    Returns:
        The installed version's description, or None when the approval was refused
        (nothing installed; an older version stays active).

    Raises:
        ApiError: The host refused the install for another reason, or no one could be asked.
    """

    def send(grant: list[str] | None) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if spec is not None:
            data["spec"] = spec
        if grant is not None:
            data["grant"] = grant
        if wheel is None:
            answer: dict[str, Any] = client.call("POST", "/plugins", data=data, timeout=timeout)
            return answer
        with wheel.open("rb") as handle:
            files = {"wheel": (wheel.name, handle, "application/octet-stream")}
            answer = client.call("POST", "/plugins", data=data, files=files, timeout=timeout)
            return answer

    try:
        return send(None)
    except ApiError as exc:
        request = PermissionRequest.of(exc)
        if request is None or approve is None:
            raise
        if not approve(request, PreviousGrant.of(client, request.plugin)):
            return None
        return send(request.missing)


class PermissionDialog(QDialog):
    """What a plugin asks for, in plain words, with Approve and Cancel.

    On an upgrade, the permissions the installed version was not granted are marked new.
    """

    def __init__(
        self, request: PermissionRequest, previous: PreviousGrant | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("permission-dialog")
        self.setWindowTitle(f"{'Upgrade' if previous else 'Install'} {request.plugin} {request.version}?")
        self.resize(560, 320)
        layout = QVBoxLayout(self)
        if previous is not None:
            intro = (
                f"{request.plugin} {request.version} asks for more than {previous.version} was granted "
                f"(marked new). If you cancel, {previous.version} stays active."
            )
        else:
            intro = f"{request.plugin} {request.version} asks to:"
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.lines = QListWidget()
        granted = set(previous.granted) if previous is not None else set()
        self.new: list[str] = []
        for line in request.permissions:
            item = QListWidgetItem(line)
            if previous is not None and line not in granted:
                self.new.append(line)
                item.setText(f"{line}   (new)")
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.lines.addItem(item)
        layout.addWidget(self.lines)
        if any(item == "unsandboxed" or item.startswith("unsandboxed=") for item in request.missing):
            warning = QLabel(
                "It runs outside the sandbox with every right of your user account: approve only code you "
                "trust as much as SynthralOS itself."
            )
            warning.setWordWrap(True)
            warning.setStyleSheet("color: #c92a2a; font-weight: bold")
            layout.addWidget(warning)
        note = QLabel(
            "It runs in a sandbox that allows this and nothing else. Nothing is installed unless you approve."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.buttons = QDialogButtonBox()
        self.approve_button = self.buttons.addButton("Approve and install", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)


def ask(parent: QWidget | None) -> Approve:
    """An :data:`Approve` that shows :class:`PermissionDialog` over ``parent`` and waits for the answer."""

    def approve(request: PermissionRequest, previous: PreviousGrant | None) -> bool:
        dialog = PermissionDialog(request, previous, parent)
        return dialog.exec() == QDialog.DialogCode.Accepted

    return approve
