"""Errors to GlitchTip or Sentry through the official Sentry SDK."""

from __future__ import annotations

from synthral_obs_glitchtip.capture import CaptureConfig, CaptureError, CaptureInput

__all__ = ["CaptureConfig", "CaptureError", "CaptureInput"]
