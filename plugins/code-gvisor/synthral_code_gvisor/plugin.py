"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_code_gvisor.runtime import GvisorConfig, GvisorRuntime
from synthral_sdk import CodeRuntime, hookimpl

__all__ = ["synthral_code_runtimes"]


@hookimpl
def synthral_code_runtimes() -> Sequence[CodeRuntime[GvisorConfig]]:
    """Offer the ``gvisor`` code runtime."""
    return [GvisorRuntime()]
