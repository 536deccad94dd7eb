"""SynthralOS OCR with EasyOCR, weights from a local folder."""

from __future__ import annotations

from synthral_ocr_easyocr.engine import DETECTOR_FILE, EasyOCRConfig, EasyOCREngine, lines_from_easyocr

__all__ = ["DETECTOR_FILE", "EasyOCRConfig", "EasyOCREngine", "lines_from_easyocr"]
