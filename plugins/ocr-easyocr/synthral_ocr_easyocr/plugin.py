"""The plugin's hooks: the ``easyocr`` OCR engine."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_ocr_easyocr.engine import EasyOCRConfig, EasyOCREngine
from synthral_sdk import OCREngine, hookimpl

__all__ = ["synthral_ocr_engines"]


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[EasyOCRConfig]]:
    """Offer the ``easyocr`` engine."""
    return [EasyOCREngine()]
