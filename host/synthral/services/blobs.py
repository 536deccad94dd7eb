"""Putting files into the blob store and getting them out, for the CLI and the API."""

from __future__ import annotations

import mimetypes
import shutil
from pathlib import Path

from pydantic import ValidationError

from synthral.errors import InputInvalid
from synthral_sdk import BlobRef, BlobStore

__all__ = ["get_blob", "put_blob"]


def put_blob(store: BlobStore, path: Path, media_type: str | None = None, name: str | None = None) -> BlobRef:
    """Store a file; the media type is guessed from its name (``name``, else the file's) unless given.

    Raises:
        InputInvalid: The file does not exist.
    """
    if not path.is_file():
        raise InputInvalid(f"{path} is not a file")
    guessed = media_type or mimetypes.guess_type(name or path.name)[0] or "application/octet-stream"
    return store.put_file(path, media_type=guessed, name=name)


def get_blob(store: BlobStore, digest: str, target: Path) -> BlobRef:
    """Copy the blob with ``digest`` ('sha256:<hex>') to ``target``.

    Raises:
        InputInvalid: The digest is malformed or not stored.
    """
    try:
        ref = BlobRef.model_validate({"$blob": digest, "size": 0})
    except ValidationError:
        raise InputInvalid(f"{digest!r} is not a blob digest; it looks like 'sha256:' and 64 hex digits") from None
    source = store.path(ref)
    shutil.copyfile(source, target)
    return BlobRef.model_validate({"$blob": digest, "size": source.stat().st_size})
