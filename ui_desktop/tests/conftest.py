"""A real desktop app on a real local host, offscreen; the OS keyring is the one stand-in."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

_CONFIG = tempfile.mkdtemp(prefix="synthral-desktop-config-")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CONFIG_HOME"] = _CONFIG  # QSettings and the autostart entry stay out of the real home
os.environ["WORKFLOW_LEASE_SECONDS"] = "4"  # a killed host's runs are taken over within seconds
os.environ.pop("SYNTHRAL_DATABASE_URL", None)
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"

from PySide6.QtWidgets import QApplication  # noqa: E402 -- after the environment above

from synthral_desktop.app import DesktopApp  # noqa: E402
from synthral_desktop.client import ApiClient  # noqa: E402


class MemoryKeyring(KeyringBackend):
    """The OS keyring service (Secret Service, Keychain) is not running in a headless test."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture(scope="session")
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "condition") -> Any:
    """Run the Qt event loop until ``predicate()`` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="session")
def desktop(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopApp]:
    """One app on one data folder for the session (starting a host is the slow part)."""
    home = tmp_path_factory.mktemp("desktop-home")
    app = DesktopApp(home, interactive=False)
    app.start()
    wait_for(lambda: app.client is not None, timeout=240, what="the local host")
    yield app
    app.shutdown()


@pytest.fixture
def client(desktop: DesktopApp) -> ApiClient:
    wait_for(lambda: desktop.client is not None, timeout=240, what="the local host")
    assert desktop.client is not None
    return desktop.client


def save_workflow(client: ApiClient, definition: dict[str, Any]) -> str:
    """Create (or update) a workflow; its id."""
    from synthral_desktop.client import ApiError

    try:
        return str(client.call("POST", "/workflows", json=definition)["id"])
    except ApiError as exc:
        if exc.status != 409:
            raise
        return str(client.call("PUT", f"/workflows/{definition['name']}", json=definition)["id"])


def execution(client: ApiClient, execution_id: str) -> dict[str, Any]:
    return dict(client.call("GET", f"/executions/{execution_id}")["execution"])


def wait_status(client: ApiClient, execution_id: str, status: str, timeout: float = 120.0) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (e := execution(client, execution_id))["status"] == status and e,
            timeout=timeout,
            what=f"execution {execution_id} to be {status}",
        )
    )
