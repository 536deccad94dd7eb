"""scripts/plugin-tests.sh: one plugin's suite, its output kept apart from the others'."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO


def test_a_suite_that_cannot_start_says_why_and_keeps_its_output_under_its_name(tmp_path: Path) -> None:
    plugin = tmp_path / "plugins" / "weather"
    plugin.mkdir(parents=True)
    (plugin / "pyproject.toml").write_text('[project]\nname = "synthral-weather"\nversion = "0.1.0"\n')
    logs = tmp_path / "logs"
    env = {**os.environ, "SYNTHRAL_TEST_LOGS": str(logs)}
    ran = subprocess.run(
        ["bash", "scripts/plugin-tests.sh", str(plugin)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode != 0
    assert "weather has no requirements.lock; make it with: bash scripts/lock.sh" in ran.stderr
    assert "has no requirements.lock" in (logs / "weather.log").read_text()
    name, verdict, seconds = (logs / "summary.tsv").read_text().rstrip("\n").split("\t")
    assert (name, verdict) == ("weather", "FAILED (exit 1)") and int(seconds) >= 0
