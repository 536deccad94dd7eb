"""The pluggy project name, markers and entry point group."""

from __future__ import annotations

from typing import Final

import pluggy

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME: Final = "synthral"
"""The pluggy project name shared by the SDK and the host."""

ENTRY_POINT_GROUP: Final = "synthral.plugins"
"""The entry point group a plugin distribution declares its hook module or object in."""

hookspec: Final = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (used in :mod:`synthral_sdk.hookspecs` only)."""

hookimpl: Final = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's hook implementation: ``@hookimpl def synthral_nodes(): ...``."""
