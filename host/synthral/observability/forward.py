"""Where host code hands events for the observability plugins: one publish point, one receiver.

The call sites (:mod:`synthral.observability.hooks`) publish what happened — an LLM call, an
agent step, a failed run, a security act, a product event — here. With nothing installed
(forwarding off, the default) a publish is one ``None`` check. The host process installs one
receiver (``synthral.services.obs_forward.ObsForwarder``) that queues each event, without
blocking, for the obs plugins the operator enabled. A receiver's failure never reaches the
caller: forwarding must not fail or slow a run.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal, Protocol

__all__ = ["KINDS", "EventKind", "Receiver", "active", "install", "publish", "uninstall"]

log = logging.getLogger("synthral.observability.forward")

EventKind = Literal["llm_call", "agent_step", "error", "security", "product"]
KINDS: Final[frozenset[str]] = frozenset({"llm_call", "agent_step", "error", "security", "product"})


class Receiver(Protocol):
    """What takes published events: must return at once, from any thread."""

    def offer(self, kind: EventKind, event: dict[str, Any]) -> None:
        """Queue ``event`` for the sinks of ``kind``, or count it dropped."""


_receiver: Receiver | None = None


def install(receiver: Receiver) -> None:
    """Make ``receiver`` take every published event (one per process; the last installed wins)."""
    global _receiver  # noqa: PLW0603 -- the process-wide publish point, like the metrics registry
    _receiver = receiver


def uninstall(receiver: Receiver) -> None:
    """Stop ``receiver`` taking events, when it is the one installed."""
    global _receiver  # noqa: PLW0603 -- see install
    if _receiver is receiver:
        _receiver = None


def active() -> bool:
    """Whether a receiver takes events (call sites skip costly copies when none does)."""
    return _receiver is not None


def publish(kind: EventKind, event: dict[str, Any]) -> None:
    """Hand ``event`` to the receiver, if any; never raises, never blocks."""
    receiver = _receiver
    if receiver is None:
        return
    try:
        receiver.offer(kind, event)
    except Exception:  # a receiver's bug must not fail the act being observed
        log.exception("could not queue a %s event for the observability plugins", kind)
