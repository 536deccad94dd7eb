"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_code_e2b.runtime import E2BConfig, E2BRuntime
from synthral_sdk import CodeRuntime, hookimpl

__all__ = ["synthral_code_runtimes"]


@hookimpl
def synthral_code_runtimes() -> Sequence[CodeRuntime[E2BConfig]]:
    """Offer the ``e2b`` code runtime."""
    return [E2BRuntime()]
