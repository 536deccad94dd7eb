"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synthral_code_wasi.runtime import WasiConfig, WasiRuntime
from synthral_sdk import CodeRuntime, hookimpl

__all__ = ["synthral_code_runtimes", "synthral_shutdown", "synthral_startup"]

RUNTIME = WasiRuntime()


@hookimpl
def synthral_startup(data_dir: Path | None) -> None:
    """Compile CPython for this machine (once; cached) and start warm instances."""
    RUNTIME.start(data_dir)


@hookimpl
def synthral_shutdown() -> None:
    """Stop the warm instances."""
    RUNTIME.stop()


@hookimpl
def synthral_code_runtimes() -> Sequence[CodeRuntime[WasiConfig]]:
    """Offer the ``wasi`` code runtime."""
    return [RUNTIME]
