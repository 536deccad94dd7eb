"""The demo, the platform's main job, end to end with the real first-party plugins."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console
from synthral.services.demo import INVOICE_LINES, run_demo

pytestmark = pytest.mark.slow


async def test_the_demo_fetches_routes_and_reads(
    tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHRAL_HOME", str(tmp_path / "home"))
    buffer = io.StringIO()
    results = await run_demo(console=Console(file=buffer, width=200))
    assert results["branch"] == "true"
    assert results["summary"] == {"headline": "SynthralOS runs plugins in their own venvs", "by": "Ada", "length": 812}
    text = str(results["ocr_text"])
    for word in ("INVOICE", "Lovelace", "42.00"):
        assert word in text
    assert "installed http 0.1.0" in buffer.getvalue()
    # A second run reuses the installed plugins.
    again = io.StringIO()
    await run_demo(console=Console(file=again, width=200))
    assert "installed already" in again.getvalue()
    assert len(INVOICE_LINES) == 3 and os.environ["SYNTHRAL_HOME"].endswith("home")
