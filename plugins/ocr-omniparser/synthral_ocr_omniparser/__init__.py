"""SynthralOS screen and form parsing, OmniParser's way: elements and text as structured JSON."""

from __future__ import annotations

from synthral_ocr_omniparser.engine import DETECTOR, OmniParserConfig, OmniParserEngine, elements_from_detections

__all__ = ["DETECTOR", "OmniParserConfig", "OmniParserEngine", "elements_from_detections"]
