"""Newline-delimited frames with a size limit (docs/plugin-protocol.md, section 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_MAX_FRAME", "FrameSplitter"]

DEFAULT_MAX_FRAME: Final = 16 * 1024 * 1024
"""Largest frame, newline included, unless ``initialize`` lowers it."""


class FrameSplitter:
    """Splits a byte stream into frames, discarding any frame over the limit.

    Args:
        max_frame: The largest frame accepted, newline included.
        on_frame: Called with each frame, without its newline.
        on_oversized: Called with the size of each discarded frame once its end is seen.
    """

    __slots__ = ("_buffer", "_discarded", "_discarding", "_on_frame", "_on_oversized", "max_frame")

    def __init__(self, max_frame: int, on_frame: Callable[[bytes], None], on_oversized: Callable[[int], None]) -> None:
        self.max_frame = max_frame
        self._on_frame = on_frame
        self._on_oversized = on_oversized
        self._buffer = bytearray()
        self._discarding = False
        self._discarded = 0

    def feed(self, data: bytes) -> None:
        """Consume a chunk of the stream, calling back for every complete frame in it."""
        start = 0
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                self._discarded += len(data)
                return
            self._discarding = False
            self._on_oversized(self._discarded + end + 1)
            start = end + 1
        while (end := data.find(b"\n", start)) >= 0:
            if self._buffer:
                self._buffer += data[start:end]
                frame = bytes(self._buffer)
                self._buffer.clear()
            else:
                frame = data[start:end]
            start = end + 1
            if len(frame) + 1 > self.max_frame:
                self._on_oversized(len(frame) + 1)
            elif frame.strip():
                self._on_frame(frame)
        if start < len(data):
            pending = len(self._buffer) + len(data) - start
            if pending >= self.max_frame:
                self._discarding = True
                self._discarded = pending
                self._buffer.clear()
            else:
                self._buffer += data[start:]
