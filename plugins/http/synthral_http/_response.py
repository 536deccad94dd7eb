"""Reading a response body into JSON, text or a blob."""

from __future__ import annotations

import asyncio
import email.message
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO, Final, Literal
from urllib.parse import unquote

import httpx
from pydantic import JsonValue

from synthral_http.models import ResponseFormat
from synthral_sdk import BlobRef, BlobStore
from synthral_sdk.errors import NonRetryableError

__all__ = ["Body", "Spool", "classify", "decode", "excerpt", "media_type", "read_body", "to_body"]

BodyKind = Literal["json", "text", "blob"]

_TEXT_TYPES: Final = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/graphql",
        "application/sql",
        "application/csv",
        "application/x-ndjson",
        "application/jsonl",
        "application/x-sh",
    }
)

# Kept in memory whatever the threshold, so an error message can quote the body's start.
_HEAD_BYTES: Final = 1024
_EXCERPT_CHARS: Final = 300


def media_type(response: httpx.Response) -> str | None:
    """The response's media type without parameters, lowercase; ``None`` when absent."""
    value = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return value or None


def classify(kind: str | None) -> BodyKind | None:
    """How ``response_format='auto'`` reads a media type; ``None`` when it does not say.

    JSON types (``application/json``, ``*/*+json``) read as JSON; ``text/*``, XML,
    JavaScript, YAML, CSV and similar as text; anything else as a blob.
    """
    if kind is None:
        return None
    if kind in ("application/json", "text/json") or kind.endswith("+json"):
        return "json"
    if kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith("+xml") or kind.endswith("+yaml"):
        return "text"
    return "blob"


def decode(data: bytes, response: httpx.Response) -> str:
    """Decode ``data`` with the response's charset (UTF-8 when it names none or an unknown one)."""
    return data.decode(response.encoding or "utf-8", errors="replace")


class Spool:
    """Collects a body in memory up to ``threshold`` bytes, then in a temporary file.

    Bounds the memory a large download takes. The file is written synchronously: writes
    of one network chunk land in the page cache and take microseconds, far less than a
    thread hop per chunk would cost.

    Args:
        threshold: How many bytes stay in memory before the body moves to a file.
    """

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.size = 0
        self.head = b""
        self._memory = bytearray()
        self._file: BinaryIO | None = None
        self.path: Path | None = None

    @property
    def spilled(self) -> bool:
        """Whether the body went over the threshold and lives in :attr:`path`."""
        return self.path is not None

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body."""
        if len(self.head) < _HEAD_BYTES:
            self.head += chunk[: _HEAD_BYTES - len(self.head)]
        self.size += len(chunk)
        if self._file is None and self.size > self.threshold:
            fd, name = tempfile.mkstemp(prefix="synthral-http-")
            self.path = Path(name)
            self._file = os.fdopen(fd, "wb")
            self._file.write(self._memory)
            self._memory = bytearray()
        if self._file is not None:
            self._file.write(chunk)
        else:
            self._memory += chunk

    def finish(self) -> None:
        """Flush the file, if any; call once the body is complete."""
        if self._file is not None:
            self._file.close()

    def data(self) -> bytes:
        """The whole body; only for a body that stayed in memory."""
        if self.spilled:
            raise RuntimeError("the body is in a file; store it with BlobStore.put_file")
        return bytes(self._memory)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Body:
    """A response body as the node returns it."""

    format: Literal["json", "text", "blob", "empty"]
    json: JsonValue = None
    text: str | None = None
    blob: BlobRef | None = None


async def read_body(response: httpx.Response, spool: Spool) -> None:
    """Stream the (content-decoded) body of ``response`` into ``spool``."""
    async for chunk in response.aiter_bytes():
        spool.write(chunk)
    spool.finish()


def excerpt(spool: Spool, response: httpx.Response) -> str | None:
    """The start of a textual body, for error messages; ``None`` for binary or empty ones."""
    if not spool.head or classify(media_type(response)) == "blob":
        return None
    text = decode(spool.head, response)
    if "\0" in text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


def _file_name(response: httpx.Response) -> str | None:
    """The file name from Content-Disposition, else the last segment of the URL's path."""
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        # get_filename understands RFC 2231 (filename*=UTF-8''...) as well as the plain form.
        name = message.get_filename()
        if name:
            # Only the base name: a server must not choose where a file lands.
            return PurePosixPath(name.replace("\\", "/")).name or None
    return unquote(response.url.path.rsplit("/", 1)[-1]) or None


async def _store(spool: Spool, response: httpx.Response, blobs: BlobStore) -> BlobRef:
    # The store fsyncs every blob; that may take a while, so it runs off the event loop.
    kind = media_type(response) or "application/octet-stream"
    name = _file_name(response)
    if spool.path is not None:
        ref = await asyncio.to_thread(blobs.put_file, spool.path, media_type=kind)
        return ref.model_copy(update={"name": name})
    return await asyncio.to_thread(blobs.put, spool.data(), media_type=kind, name=name)


def _sniff(spool: Spool) -> BodyKind:
    """Guess for a body without a Content-Type: UTF-8 text without NUL bytes is text."""
    if spool.spilled:
        return "blob"
    try:
        text = spool.data().decode("utf-8")
    except UnicodeDecodeError:
        return "blob"
    return "blob" if "\0" in text else "text"


async def to_body(
    spool: Spool, response: httpx.Response, response_format: ResponseFormat, blobs: BlobStore
) -> tuple[Body, str | None]:
    """Turn a complete body into the node's output form.

    Returns:
        The body, and a note for the log when the body was read other than asked
        (too large to inline, or not JSON despite a JSON content type).

    Raises:
        NonRetryableError: ``response_format`` is ``'json'`` and the body is not JSON.
    """
    if spool.size == 0:
        return Body("empty"), None
    kind: BodyKind = response_format if response_format != "auto" else (classify(media_type(response)) or _sniff(spool))
    if kind != "blob" and spool.spilled:
        note = (
            f"the {kind} body has {spool.size} bytes, more than max_inline_bytes ({spool.threshold}); stored as a blob"
        )
        return Body("blob", blob=await _store(spool, response, blobs)), note
    if kind == "blob":
        return Body("blob", blob=await _store(spool, response, blobs)), None
    text = decode(spool.data(), response)
    if kind == "text":
        return Body("text", text=text), None
    try:
        value: JsonValue = json.loads(text)
    except ValueError as exc:
        shown = media_type(response) or "no content type"
        if response_format == "json":
            raise NonRetryableError(
                f"the response body is not valid JSON ({exc.__class__.__name__}: {exc}); it came with "
                f"content type '{shown}'. Set response_format to 'text' or 'auto' to receive it anyway",
                details={"content_type": media_type(response), "status": response.status_code},
            ) from None
        return Body("text", text=text), f"the body claims '{shown}' but is not valid JSON; returned as text"
    return Body("json", json=value), None
