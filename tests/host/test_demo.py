"""The demo, the platform's main job: a durable workflow run over the real first-party plugins."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from synthral.config import Settings
from synthral.demo import run_demo
from synthral.services.app import open_app

pytestmark = pytest.mark.slow


async def test_the_demo_runs_its_workflow_to_completion(
    tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHRAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SYNTHRAL_DATABASE_URL", raising=False)
    buffer = io.StringIO()
    result = await run_demo(Settings.load(), console=Console(file=buffer, width=200))
    assert result["headline"] == "SynthralOS runs plugins in their own venvs"
    assert result["by"] == "Ada"
    for word in ("INVOICE", "Lovelace", "42.00"):
        assert word in str(result["invoice_text"])
    assert int(str(result["words_read"])) >= 8
    printed = buffer.getvalue()
    assert "installed http 0.1.0" in printed and "granted: connect to any public host" in printed
    assert "saved workflow 'demo' version 1" in printed
    assert (tmp_path / "home" / "synthral.db").is_file()  # the embedded default

    again = io.StringIO()
    await run_demo(Settings.load(), console=Console(file=again, width=200))
    assert "installed already" in again.getvalue() and "version 1" in again.getvalue()
    async with open_app(Settings.load()) as app:
        runs = await app.workflows.executions(workflow="demo")
        installed = {info.name for info in app.plugins.plugins() if not info.builtin}
    assert installed == {"http", "ocr-tesseract"}  # what the workflow uses, not the whole catalog
    assert [run["status"] for run in runs] == ["completed", "completed"]
