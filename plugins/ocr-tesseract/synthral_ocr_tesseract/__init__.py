"""SynthralOS OCR with Tesseract: images and PDF pages to words with boxes and confidences.

The plugin's hooks are in :mod:`synthral_ocr_tesseract.plugin`; the engine is
:class:`TesseractEngine`, configured by :class:`TesseractConfig`.
"""

from __future__ import annotations

import os

# Tesseract starts an OpenMP thread per core for every page, and the runner serves several
# calls at once; the threads then fight over the cores (on two cores, four pages at once
# take about twice as long as with one thread each). Set here, before any module of the
# plugin can start Tesseract, and only when the operator has not chosen a limit.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from synthral_ocr_tesseract.engine import PAGE_SEPARATOR, TesseractConfig, TesseractEngine

__all__ = ["PAGE_SEPARATOR", "TesseractConfig", "TesseractEngine"]
