"""The plugin's hooks: the ``omniparser`` OCR engine."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_ocr_omniparser.engine import OmniParserConfig, OmniParserEngine
from synthral_sdk import OCREngine, hookimpl

__all__ = ["synthral_ocr_engines"]


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[OmniParserConfig]]:
    """Offer the ``omniparser`` engine."""
    return [OmniParserEngine()]
