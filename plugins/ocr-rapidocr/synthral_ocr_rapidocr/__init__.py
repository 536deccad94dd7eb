"""SynthralOS OCR with RapidOCR: PaddleOCR's PP-OCR models on ONNX Runtime, shipped in the wheel.

The plugin's hooks are in :mod:`synthral_ocr_rapidocr.plugin`; the engine is
:class:`RapidOCREngine`, configured by :class:`RapidOCRConfig`.
"""

from __future__ import annotations

from synthral_ocr_rapidocr.engine import LANGUAGES, RapidOCRConfig, RapidOCREngine

__all__ = ["LANGUAGES", "RapidOCRConfig", "RapidOCREngine"]
