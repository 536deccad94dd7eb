"""The plugin's hooks: the ``doctr`` OCR engine."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_ocr_doctr.engine import DocTRConfig, DocTREngine
from synthral_sdk import OCREngine, hookimpl

__all__ = ["synthral_ocr_engines"]


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[DocTRConfig]]:
    """Offer the ``doctr`` engine."""
    return [DocTREngine()]
