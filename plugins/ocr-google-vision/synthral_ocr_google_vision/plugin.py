"""The plugin's hooks: the ``google_vision`` OCR engine."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_ocr_google_vision.engine import GoogleVisionConfig, GoogleVisionEngine
from synthral_sdk import OCREngine, hookimpl

__all__ = ["synthral_ocr_engines"]


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[GoogleVisionConfig]]:
    """Offer the ``google_vision`` engine."""
    return [GoogleVisionEngine()]
