"""The copilot's JSON values: tool arguments and results, action payloads, state."""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["Data"]

Data: TypeAlias = dict[str, Any]
"""A JSON object as the copilot passes it around (checked where it enters: tools, actions, requests)."""
