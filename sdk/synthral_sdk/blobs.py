"""The content-addressed blob store (docs/plugin-protocol.md, section 7).

Host and plugins share one directory. Writers never expose a partial file: bytes go to a
temporary file that is fsynced and then renamed to its digest's path.

A sandboxed plugin sees the store read-only, holding only the blobs it was handed, and
writes new blobs into an *inbox* (``$SYNTHRAL_BLOB_INBOX``) with the same layout; the host
checks each one it is sent a reference to and moves it into the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from synthral_sdk.errors import InputInvalid
from synthral_sdk.types import BlobRef

__all__ = ["BlobStore"]

_CHUNK: Final = 1 << 20


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only store: the blob is there, which is what matters
        os.utime(path)


class BlobStore:
    """Bytes addressed by their SHA-256 digest under ``root``.

    Args:
        root: The store's directory; created when missing.
        inbox: Where new blobs are written instead of ``root`` (a sandboxed plugin's view of
            the store is read-only); blobs are read from ``root``, then from here.

    .. versionchanged:: 1.3 ``inbox``.
    """

    def __init__(self, root: Path | str, *, inbox: Path | str | None = None) -> None:
        self.root = Path(root)
        self.inbox = BlobStore(inbox) if inbox is not None else None

    def put(self, data: bytes, *, media_type: str = "application/octet-stream", name: str | None = None) -> BlobRef:
        """Store ``data`` and return its reference. Storing the same bytes twice is free."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if self.inbox is not None and not path.exists():
            return self.inbox.put(data, media_type=media_type, name=name)
        if path.exists():
            _touch(path)  # stored again: it is in use, so retention must not take it as old
        else:
            self._write_atomically(path, lambda f: f.write(data))
        return BlobRef.model_validate(
            {"$blob": f"sha256:{digest}", "size": len(data), "mediaType": media_type, "name": name}
        )

    def put_file(
        self, source: Path | str, *, media_type: str = "application/octet-stream", name: str | None = None
    ) -> BlobRef:
        """Store the content of the file ``source`` without reading it all into memory.

        ``name`` defaults to the file's name.
        """
        source = Path(source)
        hasher = hashlib.sha256()
        size = 0
        self._make_dirs()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir())  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.hexdigest()
            path = self._path(digest)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.replace(tmp_name, path)  # a new file, so a fresh time even if the blob existed
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return BlobRef.model_validate(
            {"$blob": f"sha256:{digest}", "size": size, "mediaType": media_type, "name": name or source.name}
        )

    def get(self, ref: BlobRef) -> bytes:
        """Return the bytes of ``ref``.

        Raises:
            InputInvalid: The blob is missing or its size differs from the reference.
        """
        path = self.path(ref)
        data = path.read_bytes()
        if len(data) != ref.size:
            raise InputInvalid(
                f"blob {ref.digest} has {len(data)} bytes but the reference says {ref.size}; "
                "the reference was edited or the store is damaged",
                details={"digest": ref.digest},
            )
        return data

    def open(self, ref: BlobRef) -> BinaryIO:
        """Open the blob for reading (for large blobs)."""
        return self.path(ref).open("rb")

    def path(self, ref: BlobRef) -> Path:
        """Return the file holding ``ref``'s bytes.

        Raises:
            InputInvalid: No blob with that digest is stored.
        """
        path = self._path(ref.hexdigest)
        if not path.is_file() and self.inbox is not None and self.inbox.exists(ref):
            return self.inbox.path(ref)
        if not path.is_file():
            raise InputInvalid(
                f"blob {ref.digest} is not in the blob store at {self.root}; "
                "store it with BlobStore.put() before referring to it",
                details={"digest": ref.digest},
            )
        return path

    def exists(self, ref: BlobRef) -> bool:
        """Whether the store holds ``ref``'s bytes."""
        return self._path(ref.hexdigest).is_file() or (self.inbox is not None and self.inbox.exists(ref))

    def delete(self, ref: BlobRef) -> None:
        """Remove ``ref``'s bytes if present (used by the host's retention job)."""
        self._path(ref.hexdigest).unlink(missing_ok=True)

    def iter_digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob, as ``'sha256:<hex>'``."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for shard in base.iterdir():
            for item in shard.iterdir():
                yield f"sha256:{shard.name}{item.name}"

    def _path(self, hexdigest: str) -> Path:
        # The digest was validated by BlobRef (64 lowercase hex digits), so it cannot
        # carry path separators or '..'.
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:]

    def _tmp_dir(self) -> Path:
        return self.root / "tmp"

    def _make_dirs(self) -> None:
        # The store is its owner's only (0700); its files are made by mkstemp, so 0600.
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
        self._tmp_dir().mkdir(mode=0o700, exist_ok=True)

    def _write_atomically(self, path: Path, write: Callable[[BinaryIO], object]) -> None:
        self._make_dirs()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir())  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
