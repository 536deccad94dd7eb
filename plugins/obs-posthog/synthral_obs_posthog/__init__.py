"""Product events and feature flags through the official PostHog SDK; no personal data unless opted in."""

from __future__ import annotations

from synthral_obs_posthog.capture import CaptureEvents, EvaluateFlags, PostHogConfig, ProductEvent, pseudonym

__all__ = ["CaptureEvents", "EvaluateFlags", "PostHogConfig", "ProductEvent", "pseudonym"]
