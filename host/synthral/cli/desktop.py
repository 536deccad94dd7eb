"""``synthral desktop``: open the desktop app, a distribution of its own (``synthral-desktop``)."""

from __future__ import annotations

import importlib

import typer

from synthral.cli.common import err_console

__all__ = ["desktop"]


def desktop(ctx: typer.Context) -> None:
    """Open the desktop app on $SYNTHRAL_HOME (arguments go to it: FILES, --home, --minimized, -v)."""
    try:
        module = importlib.import_module("synthral_desktop.__main__")
    except ImportError:
        err_console.print(
            "the desktop app is not installed: pip install synthral-desktop (from a source checkout: "
            "cd ui_desktop && uv sync), then run 'synthral desktop' again"
        )
        raise typer.Exit(2) from None
    raise typer.Exit(int(module.main(list(ctx.args))))
