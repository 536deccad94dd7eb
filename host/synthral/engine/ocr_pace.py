"""How fast each OCR engine reads a page on this machine, as the router's latency rule sees it.

The PRD routes printed text away from an engine that takes more than a second. How long an
engine takes depends on the machine (RapidOCR's models are quick on a laptop with AVX-512
and slow on a small server; Tesseract the other way round on some pages), so the router
does not guess: every document an engine reads adds its time per page here, and the router
compares the recent median of each engine with the node's budget
(:attr:`~synthral.engine.ocr_node.OCRExtractConfig.latency_budget_ms`).

Timings older than ``max_age`` seconds are forgotten, so an engine that was slow under a
burst of load, and was routed around, is tried again once the burst has passed. One
:data:`PACE` per process: the readings of every run and API call in it.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["PACE", "EnginePace"]

KEEP: Final = 20
"""Timings kept per engine (the median of these is its pace)."""
MAX_AGE: Final = 600.0
"""Seconds after which a timing no longer counts."""


class EnginePace:
    """Recent milliseconds per page of each OCR engine, by engine name.

    Args:
        keep: Timings kept per engine.
        max_age: Seconds a timing counts for.
        clock: Monotonic seconds (a test passes its own).
    """

    def __init__(self, *, keep: int = KEEP, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic):
        self.keep = keep
        self.max_age = max_age
        self.clock = clock
        self._timings: dict[str, deque[tuple[float, float]]] = {}

    def record(self, engine: str, ms: float, pages: int) -> None:
        """``engine`` read a document of ``pages`` pages in ``ms`` milliseconds."""
        if pages < 1 or ms < 0:
            return
        timings = self._timings.setdefault(engine, deque(maxlen=self.keep))
        timings.append((self.clock(), ms / pages))

    def per_page(self) -> dict[str, float]:
        """The median milliseconds per page of each engine with timings recent enough to count."""
        cutoff = self.clock() - self.max_age
        pace: dict[str, float] = {}
        for engine, timings in self._timings.items():
            while timings and timings[0][0] < cutoff:
                timings.popleft()
            if timings:
                pace[engine] = statistics.median(ms for _, ms in timings)
        return pace

    def forget(self) -> None:
        """Drop every timing."""
        self._timings.clear()


PACE: Final = EnginePace()
"""This process's timings: every OCR reading in the process adds to it, every route reads it."""
