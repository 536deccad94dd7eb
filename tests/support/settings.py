"""Where the test fixtures live and settings for throwaway homes."""

from __future__ import annotations

from pathlib import Path

from synthral.config import Settings
from synthral.plugins.permissions import GrantRequest

__all__ = ["FIXTURES", "GRANT_ALL", "REPO", "make_settings"]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plugins"
REPO = Path(__file__).parent.parent.parent
GRANT_ALL = GrantRequest(items=["all"])
"""Grant a test plugin everything it declares (what an operator approving it at install does)."""


def make_settings(home: Path, wheelhouse: Path, **plugins: object) -> Settings:
    """Settings for a throwaway home with plugin timeouts short enough for tests (``plugins`` overrides them)."""
    base = Settings.load(home=home)
    values: dict[str, object] = {
        "wheelhouse": wheelhouse,
        "start_timeout": 20.0,
        "call_timeout": 30.0,
        "idle_timeout": 300.0,
        "cancel_grace": 5.0,
        **plugins,
    }
    return base.replace(plugins=values)
