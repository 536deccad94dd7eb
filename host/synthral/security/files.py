"""Who may read what SynthralOS keeps on disk: its owner only.

``$SYNTHRAL_HOME`` holds the database (every run's inputs and outputs), the key files that
open the credentials and sign access tokens, and the blobs. The home is created ``0700`` and
those files ``0600`` whatever the umask; SQLite gives its ``-wal`` and ``-shm`` files the
database file's mode. What already exists with looser modes (made by an older version, or by
hand) is reported at start with the command that fixes it; it is not changed behind the
operator's back.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "Loose",
    "create_private_file",
    "loose_paths",
    "private_dir",
    "warn_loose",
]

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
log = logging.getLogger("synthral.security")


@dataclass(frozen=True)
class Loose:
    """A path that others than its owner may read, write or enter."""

    path: Path
    mode: int
    wanted: int

    def message(self) -> str:
        """What is wrong and the command that fixes it."""
        kind = "folder" if self.wanted == PRIVATE_DIR else "file"
        return (
            f"{self.path} is a {kind} with mode {self.mode:04o}: other users of this machine can "
            f"{'list or enter' if kind == 'folder' else 'read'} it; fix with: chmod {self.wanted:o} {self.path}"
        )


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as a folder only its owner can use; return it.

    An existing folder is left as it is (:func:`loose_paths` reports it when looser).
    """
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is reduced by the umask; chmod is not
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (so SQLite opens a private file)."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(descriptor)


def loose_paths(folders: Iterable[Path], files: Iterable[Path]) -> list[Loose]:
    """The folders and files (those that exist) that group or others may use."""
    if os.name == "nt":  # NTFS has ACLs, not modes: nothing to compare
        return []
    found = []
    for wanted, paths in ((PRIVATE_DIR, folders), (PRIVATE_FILE, files)):
        for path in paths:
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except OSError:
                continue
            if mode & 0o077:
                found.append(Loose(path, mode, wanted))
    return found


def warn_loose(folders: Iterable[Path], files: Iterable[Path]) -> list[Loose]:
    """Log a warning for each folder or file looser than owner-only; return them."""
    found = loose_paths(folders, files)
    for loose in found:
        log.warning("%s", loose.message())
    return found
