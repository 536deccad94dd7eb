"""The plugin's hooks: the ``tesseract`` OCR engine, and a start-up note on the binary."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from synthral_ocr_tesseract.engine import TesseractConfig, TesseractEngine
from synthral_ocr_tesseract.tesseract import TesseractBinary, find_tesseract
from synthral_sdk import OCREngine, hookimpl
from synthral_sdk.errors import SynthralError

__all__ = ["synthral_ocr_engines", "synthral_startup"]

_log = logging.getLogger("synthral_ocr_tesseract")


@hookimpl
def synthral_ocr_engines() -> Sequence[OCREngine[TesseractConfig]]:
    """Offer the ``tesseract`` engine."""
    return [TesseractEngine()]


@hookimpl
def synthral_startup() -> None:
    """Log whether Tesseract is installed; a missing binary fails calls, not the plugin's start.

    The start must not fail: the config field ``tesseract_cmd`` may name a binary elsewhere,
    and a call that finds none says how to install it. The hook's ``data_dir`` is not needed.
    """
    try:
        binary = TesseractBinary(find_tesseract(None))
        _log.info(
            "tesseract %s found at %s with languages %s",
            binary.version(),
            binary.path,
            ", ".join(binary.languages()) or "(none)",
        )
    except SynthralError as exc:
        _log.warning("%s", exc.message)
