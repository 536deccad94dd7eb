"""Request limits: body size, JSON nesting, and token-bucket rate limits."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from synthral.errors import ConfigurationError

__all__ = ["Limits", "RateLimiter", "json_depth_exceeds"]


@dataclass(frozen=True)
class Limits:
    """How much one request (and one client) may ask of the server.

    Attributes:
        max_body: Bytes in a request body (JSON and forms).
        max_upload: Bytes in an upload (a plugin wheel).
        max_json_depth: Nesting of arrays and objects in a JSON body.
        ip_rate, ip_burst: Requests per second (and burst) per client address.
        user_rate, user_burst: Requests per second (and burst) per signed-in user or API key.
        login_rate, login_burst: Login attempts per second (and burst) per client address.
    """

    max_body: int = 1024 * 1024
    max_upload: int = 100 * 1024 * 1024
    max_json_depth: int = 64
    ip_rate: float = 200.0
    ip_burst: float = 400.0
    user_rate: float = 100.0
    user_burst: float = 200.0
    login_rate: float = 0.5
    login_burst: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Limits with overrides from ``SYNTHRAL_LIMIT_<FIELD>`` (e.g. ``SYNTHRAL_LIMIT_IP_RATE=50``).

        Raises:
            ConfigurationError: A variable is not a number.
        """
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for item in fields(cls):
            raw = env.get(f"SYNTHRAL_LIMIT_{item.name.upper()}")
            if raw is None:
                continue
            try:
                values[item.name] = int(raw) if item.type in ("int", int) else float(raw)
            except ValueError:
                raise ConfigurationError(
                    f"SYNTHRAL_LIMIT_{item.name.upper()}={raw!r} is not a number; set a number or unset it"
                ) from None
        return cls(**values)  # type: ignore[arg-type]


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` (strings are skipped)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token buckets per key, in this process (each server process limits on its own).

    Args:
        rate: Tokens added per second.
        burst: Bucket size.
    """

    rate: float
    burst: float
    max_keys: int = 100_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0 when allowed, else seconds until one is available."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _evict(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def retry_after(seconds: float) -> int:
    """Seconds for a Retry-After header (at least 1)."""
    return max(1, math.ceil(seconds))
