"""A really small filesystem (a tmpfs with a size limit) to fill up, or to make read-only."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["SmallDisk", "small_disk"]


@dataclass
class SmallDisk:
    """A mounted tmpfs: fill it, empty it, make it read-only and writable again."""

    path: Path

    @property
    def filler(self) -> Path:
        return self.path / "filler"

    def fill(self) -> None:
        """Write until the disk is full (ENOSPC); what was there stays."""
        with contextlib.suppress(OSError), self.filler.open("ab") as handle:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())
        # The last partial blocks: fill them byte by byte so not even a page is left.
        with contextlib.suppress(OSError), self.filler.open("ab") as handle:
            while True:
                handle.write(b"\0" * 512)
                handle.flush()

    def empty(self) -> None:
        """Give the space back."""
        self.filler.unlink(missing_ok=True)

    def read_only(self, on: bool = True) -> None:
        """Remount read-only (or writable again)."""
        mode = "ro" if on else "rw"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True, capture_output=True)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8M") -> Iterator[SmallDisk]:
    """Mount a tmpfs of ``size`` at ``path`` for the block; skip the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=False, capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(path)], check=False, capture_output=True)
        for _ in range(50):  # a process that had files open there may take a moment to let go
            if subprocess.run(["umount", str(path)], check=False, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:  # detached now, gone once nothing uses it
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
