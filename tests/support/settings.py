"""Where the test fixtures live and settings for throwaway homes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from synthral.config import Settings

__all__ = ["FIXTURES", "REPO", "make_settings"]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plugins"
REPO = Path(__file__).parent.parent.parent


def make_settings(home: Path, wheelhouse: Path, **overrides: object) -> Settings:
    """Settings for a throwaway home with timeouts short enough for tests."""
    base = Settings.from_env(home)
    values: dict[str, object] = {
        "wheelhouse": wheelhouse,
        "plugin_start_timeout": 20.0,
        "plugin_call_timeout": 30.0,
        "plugin_idle_timeout": 300.0,
        "plugin_cancel_grace": 5.0,
        **overrides,
    }
    return dataclasses.replace(base, **values)  # type: ignore[arg-type]
