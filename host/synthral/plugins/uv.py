"""Running uv, which creates and fills plugin venvs (~0.1 s a venv)."""

from __future__ import annotations

import asyncio
import os
import shutil
from functools import cache
from pathlib import Path

from uv import find_uv_bin

from synthral.errors import InstallError

__all__ = ["UvFailed", "run_uv", "uv_binary"]


class UvFailed(InstallError):
    """A uv command failed; the message carries uv's own explanation."""

    code = "uv_failed"

    def __init__(self, message: str, *, output: str) -> None:
        super().__init__(message, details={"output": output[-4000:]})
        self.output = output


@cache
def uv_binary() -> str:
    """The uv executable: the one installed with the host, else the one on PATH."""
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        found = shutil.which("uv")
        if found is None:
            raise InstallError(
                "uv is not installed; run 'pip install uv' (the host needs it to make plugin venvs)"
            ) from None
        return found


async def run_uv(args: list[str], *, what: str, cwd: Path | None = None) -> str:
    """Run ``uv ARGS`` and return its combined output.

    Raises:
        UvFailed: uv exited with an error; the message includes its last lines.
    """
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env["UV_NO_PROGRESS"] = "1"
    env.pop("VIRTUAL_ENV", None)
    process = await asyncio.create_subprocess_exec(
        uv_binary(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    raw, _ = await process.communicate()
    output = raw.decode(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-12:])
        raise UvFailed(f"{what} failed:\n{tail}", output=output)
    return output
