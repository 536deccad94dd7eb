"""Wheel build hook: ship the built web app (web/dist) inside the wheel as synthral/web.

A wheel built without web/dist still works (the server then says how to build the app);
set SYNTHRAL_REQUIRE_WEB=1 to make such a build fail instead, as release builds do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class WebAppHook(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no type information
    """Adds web/dist to the wheel as synthral/web when it has been built."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Map web/dist into the wheel (editable installs serve it from the checkout instead)."""
        if version == "editable":
            return
        dist = Path(self.root) / "web" / "dist"
        if not (dist / "index.html").is_file():
            if os.environ.get("SYNTHRAL_REQUIRE_WEB") == "1":
                raise RuntimeError("web/dist is not built: run 'cd web && npm ci && npm run build' first")
            return
        build_data["force_include"][str(dist)] = "synthral/web"
