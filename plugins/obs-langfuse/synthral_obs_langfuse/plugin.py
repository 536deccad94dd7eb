"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synthral_obs_langfuse.trace import SendTraces
from synthral_sdk import Node, hookimpl

__all__ = ["synthral_nodes"]


@hookimpl
def synthral_nodes() -> Sequence[Node[Any, Any, Any]]:
    """Offer the ``trace`` node."""
    return [SendTraces()]
