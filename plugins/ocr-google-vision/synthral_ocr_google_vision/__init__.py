"""SynthralOS OCR with the Google Cloud Vision REST API."""

from __future__ import annotations

from synthral_ocr_google_vision.engine import (
    API_KEY_SECRET,
    SERVICE_ACCOUNT_SECRET,
    GoogleVisionConfig,
    GoogleVisionEngine,
)

__all__ = ["API_KEY_SECRET", "SERVICE_ACCOUNT_SECRET", "GoogleVisionConfig", "GoogleVisionEngine"]
