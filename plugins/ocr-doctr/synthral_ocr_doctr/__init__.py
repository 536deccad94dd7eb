"""SynthralOS OCR with docTR: text, layout and tables, with weights from a local folder."""

from __future__ import annotations

from synthral_ocr_doctr.engine import WEIGHT_FILES, DocTRConfig, DocTREngine, page_from_doctr

__all__ = ["WEIGHT_FILES", "DocTRConfig", "DocTREngine", "page_from_doctr"]
