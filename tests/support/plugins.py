"""Building fixture plugin projects into wheels."""

from __future__ import annotations

from pathlib import Path

from synthral.plugins.uv import run_uv

__all__ = ["build_wheel"]


async def build_wheel(source: Path, out: Path) -> Path:
    """Build the plugin project at ``source`` into a wheel in ``out``; its path."""
    await run_uv(["build", "--wheel", "--quiet", "--out-dir", str(out), str(source)], what=f"building {source}")
    return next(out.glob("*.whl"))
