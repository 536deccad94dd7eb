"""The plugin's hooks: the ``rapidocr`` OCR engine."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_ocr_rapidocr.engine import RapidOCRConfig, RapidOCREngine
from synthral_sdk import OCREngine, hookimpl

__all__ = ["synthral_ocr_engines"]


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[RapidOCRConfig]]:
    """Offer the ``rapidocr`` engine."""
    return [RapidOCREngine()]
