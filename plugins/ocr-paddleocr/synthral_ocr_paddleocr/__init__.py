"""SynthralOS OCR with native PaddleOCR, models from a local folder."""

from __future__ import annotations

from synthral_ocr_paddleocr.engine import MODEL_FOLDERS, PaddleOCRConfig, PaddleOCREngine, lines_from_paddle

__all__ = ["MODEL_FOLDERS", "PaddleOCRConfig", "PaddleOCREngine", "lines_from_paddle"]
