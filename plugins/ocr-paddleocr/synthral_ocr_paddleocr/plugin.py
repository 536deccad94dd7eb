"""The plugin's hooks: the ``paddleocr`` OCR engine."""

from __future__ import annotations

import os
from collections.abc import Sequence

# PaddleX would look for newer models on its hosts at start-up; nothing is fetched here.
os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")

from synthral_ocr_paddleocr.engine import PaddleOCRConfig, PaddleOCREngine
from synthral_sdk import OCREngine, hookimpl

__all__ = ["synthral_ocr_engines"]


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[PaddleOCRConfig]]:
    """Offer the ``paddleocr`` engine."""
    return [PaddleOCREngine()]
