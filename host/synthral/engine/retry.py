"""Retry policies: the effective policy of a step and the wait before each retry."""

from __future__ import annotations

from dataclasses import dataclass

from synthral.config import EngineSettings
from synthral.engine.model import RetryPolicy
from synthral.errors import Cancelled, SynthralError

__all__ = ["EffectivePolicy", "effective_policy"]


@dataclass(frozen=True)
class EffectivePolicy:
    """A fully resolved retry policy."""

    max_attempts: int
    initial_interval: float
    backoff_coefficient: float
    max_interval: float
    non_retryable_errors: frozenset[str]

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        return float(min(self.max_interval, self.initial_interval * self.backoff_coefficient ** (attempt - 1)))

    def should_retry(self, error: SynthralError | Cancelled, attempt: int) -> bool:
        """Whether a step that failed with ``error`` on ``attempt`` gets another attempt."""
        if isinstance(error, Cancelled) or attempt >= self.max_attempts:
            return False
        if not error.retryable:
            return False
        names = {error.error_type, type(error).__name__, error.code}
        return not (names & self.non_retryable_errors)


def effective_policy(*policies: RetryPolicy | None, defaults: EngineSettings) -> EffectivePolicy:
    """Merge policies, most specific first (node, then workflow), over the host's defaults.

    Defaults (``settings.engine``): ``WORKFLOW_MAX_RETRIES`` retries (3, so 4 attempts),
    ``WORKFLOW_RETRY_INITIAL_INTERVAL`` (1 s) before the first,
    ``WORKFLOW_RETRY_BACKOFF_MULTIPLIER`` (2.0) between waits, at most
    ``WORKFLOW_RETRY_MAX_INTERVAL`` (60 s) per wait.
    """

    def pick(field: str, default: float) -> float:
        for policy in policies:
            value = getattr(policy, field, None) if policy is not None else None
            if value is not None:
                return float(value)
        return default

    non_retryable: set[str] = set()
    for policy in policies:
        if policy is not None:
            non_retryable.update(policy.non_retryable_errors)
    return EffectivePolicy(
        max_attempts=int(pick("max_attempts", defaults.max_retries + 1)),
        initial_interval=pick("initial_interval", defaults.retry_initial_interval),
        backoff_coefficient=pick("backoff_coefficient", defaults.retry_backoff_multiplier),
        max_interval=pick("max_interval", defaults.retry_max_interval),
        non_retryable_errors=frozenset(non_retryable),
    )
