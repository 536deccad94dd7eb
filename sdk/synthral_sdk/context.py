"""What a capability receives about the call it serves."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final

from synthral_sdk._json import JSONObject
from synthral_sdk.blobs import BlobStore
from synthral_sdk.errors import Cancelled, ConfigurationError, DeadlineExceeded
from synthral_sdk.network import NetworkPolicy

if TYPE_CHECKING:
    import socket
    from contextlib import AbstractContextManager

    import httpx

    from synthral_sdk._host import HostServices

__all__ = ["CancelToken", "Context", "EventSink"]

ProgressSink = Callable[[float | None, str], None]
EventSink = Callable[[str, JSONObject], None]
"""``sink(kind, data)``: receives the events a call emits (tokens, agent steps)."""
_NO_SECRETS: Mapping[str, str] = MappingProxyType({})


def _no_progress(progress: float | None, message: str) -> None:
    del progress, message


def _no_event(kind: str, data: JSONObject) -> None:
    del kind, data


@final
class CancelToken:
    """A cancellation flag whose ``threading.Event`` is only made when someone waits on it.

    Most calls are never cancelled and never waited on; creating an Event per call would
    cost more than the call itself on a fast path.
    """

    __slots__ = ("_event", "_flag", "_lock")

    def __init__(self, event: threading.Event | None = None) -> None:
        self._lock = threading.Lock()
        self._event = event
        self._flag = event.is_set() if event is not None else False

    def set(self) -> None:
        """Cancel."""
        with self._lock:
            self._flag = True
            if self._event is not None:
                self._event.set()

    def is_set(self) -> bool:
        """Whether the call was cancelled."""
        return self._flag or (self._event is not None and self._event.is_set())

    @property
    def event(self) -> threading.Event:
        """An event set on cancellation, for code that waits."""
        with self._lock:
            if self._event is None:
                self._event = threading.Event()
                if self._flag:
                    self._event.set()
            return self._event


@final
class Context:
    """Facts and services for one call of a capability.

    The host builds it; authors read it. Every field is optional from the host's side, so a
    capability must work when, say, ``execution_id`` is ``None`` (a one-off call from the
    CLI).

    Attributes:
        execution_id: The workflow execution this call belongs to, if any.
        node_id: The workflow node this call runs for, if any.
        attempt: 1 for the first attempt, 2 for the first retry, and so on.
        idempotency_key: Stable across retries of the same step
            (``execution/node/iteration``); hand it to remote APIs that dedupe.
        secrets: Only the secrets granted to this call, by name.
        blobs: The blob store, for reading and writing binary inputs and outputs.
        log: A logger whose records reach the host's log tied to this call.
        data_dir: A directory this plugin may keep state in across calls and restarts.
        loop: The event loop the call runs on; set by ``Capability.call``, used to reach
            the host from a synchronous operation's thread (1.2).
        network: Where this call's requests may go (the workspace's SSRF policy). Make
            requests with :meth:`http_client`, which applies it.
        traceparent: The host's span for this call as a W3C ``traceparent`` value, when the
            host traces (1.8). The runner makes it the current OpenTelemetry context when
            the plugin's venv has ``opentelemetry-api``, so spans the plugin makes join the
            host's trace; code that talks to another traced service may forward it.
    """

    def __init__(
        self,
        *,
        blobs: BlobStore,
        execution_id: str | None = None,
        node_id: str | None = None,
        attempt: int = 1,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        secrets: Mapping[str, str] | None = None,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        progress: ProgressSink | None = None,
        cancel_event: threading.Event | CancelToken | None = None,
        data_dir: Path | None = None,
        events: EventSink | None = None,
        host: HostServices | None = None,
        network: NetworkPolicy | None = None,
        traceparent: str | None = None,
    ) -> None:
        self.blobs = blobs
        self.execution_id = execution_id
        self.node_id = node_id
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self.secrets: Mapping[str, str] = MappingProxyType(dict(secrets)) if secrets else _NO_SECRETS
        self.log = log if log is not None else logging.getLogger("synthral.plugin")
        self.data_dir = data_dir
        self.network = network if network is not None else NetworkPolicy.server()
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._progress = progress or _no_progress
        self._cancel = cancel_event if isinstance(cancel_event, CancelToken) else CancelToken(cancel_event)
        self._events = events or _no_event
        self._host = host
        self.loop: asyncio.AbstractEventLoop | None = None
        self.traceparent = traceparent

    @property
    def host(self) -> HostServices:
        """What the host offers this call: LLM completions, tool calls, step records (1.2).

        Raises:
            ConfigurationError: The call was not made by a host that offers them (a host
                speaking protocol 1.0, or a unit test that passed no ``host``).
        """
        if self._host is None:
            raise ConfigurationError(
                "this call has no host services (LLM, tools); run it through a SynthralOS host speaking plugin "
                "protocol 1.1 or later, or pass host=... to synthral_sdk.testing.call in tests"
            )
        return self._host

    @property
    def has_host(self) -> bool:
        """Whether :attr:`host` is available."""
        return self._host is not None

    def emit(self, kind: str, data: JSONObject) -> None:
        """Send an event about this call to the host, e.g. a streamed token (1.2).

        Events are for people watching (the execution view); they are best-effort and may
        be coalesced. ``kind`` is dotted, e.g. ``"llm.token"``.
        """
        self._events(kind, data)

    def http_client(self, **options: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that obeys this call's network policy, redirects included.

        The way a plugin makes requests: ``async with context.http_client(timeout=30) as client``.
        A connection the policy refuses raises :class:`~synthral_sdk.errors.EgressDenied`.

        Args:
            **options: What ``httpx.AsyncClient`` takes, except ``transport``, ``proxy``,
                ``mounts`` and ``trust_env`` (see :mod:`synthral_sdk.http`).

        .. versionadded:: 1.5
        """
        from synthral_sdk.http import async_client  # noqa: PLC0415 -- httpx loads only for plugins that use it

        return async_client(self.network, **options)

    def http_client_sync(self, **options: Any) -> httpx.Client:
        """An ``httpx.Client`` that obeys this call's network policy, for synchronous code.

        .. versionadded:: 1.5
        """
        from synthral_sdk.http import sync_client  # noqa: PLC0415 -- httpx loads only for plugins that use it

        return sync_client(self.network, **options)

    def tcp_connect(self, host: str, port: int, *, timeout: float = 10.0) -> socket.socket:
        """A connected TCP socket to ``host:port`` that obeys this call's network policy.

        For protocols other than HTTP whose driver takes a socket; see :mod:`synthral_sdk.tcp`.

        Raises:
            EgressDenied: The policy refuses it.
            ConnectionError: It could not be resolved or reached.

        .. versionadded:: 1.11
        """
        from synthral_sdk.tcp import connect  # noqa: PLC0415 -- loaded only by plugins that use it

        return connect(self.network, host, port, timeout=timeout)

    def tcp_forward(self, host: str, port: int, *, timeout: float = 10.0) -> AbstractContextManager[tuple[str, int]]:
        """A loopback ``(host, port)`` leading to ``host:port`` within this call's policy, while the block runs.

        For drivers that connect by themselves (libpq, pymongo, smtplib); see :mod:`synthral_sdk.tcp`.

        Raises:
            EgressDenied: The policy refuses it (on entering the block).
            ConnectionError: It could not be resolved or reached.

        .. versionadded:: 1.11
        """
        from synthral_sdk.tcp import forward  # noqa: PLC0415 -- loaded only by plugins that use it

        return forward(self.network, host, port, timeout=timeout)

    def udp_send(self, host: str, port: int, datagrams: Sequence[bytes], *, timeout: float = 10.0) -> None:
        """Send ``datagrams`` to ``host:port`` over UDP within this call's network policy.

        For syslog and the like; see :mod:`synthral_sdk.udp`.

        Raises:
            EgressDenied: The policy refuses it.
            ConnectionError: It could not be resolved, or the sandbox's proxy reached.

        .. versionadded:: 1.11
        """
        from synthral_sdk.udp import send  # noqa: PLC0415 -- loaded only by plugins that use it

        send(self.network, host, port, datagrams, timeout=timeout)

    @property
    def cancelled(self) -> bool:
        """Whether the caller cancelled this call (or its deadline passed); long loops should check it."""
        return self._cancel.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the call is cancelled; wait on it to stop a child process at once."""
        return self._cancel.event

    def time_remaining(self) -> float | None:
        """Seconds left before the call's deadline, or ``None`` when it has none."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def check(self) -> None:
        """Raise if the call was cancelled or its deadline passed.

        Synchronous code that loops should call it now and then; ``async`` code is
        cancelled at its next ``await`` anyway.

        Raises:
            Cancelled: The caller cancelled the call.
            DeadlineExceeded: The call's timeout passed.
        """
        if self._cancel.is_set():
            raise Cancelled()
        remaining = self.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the call's timeout passed while the plugin was still working")

    def report_progress(self, progress: float | None, message: str = "") -> None:
        """Tell the host how far the call has come.

        Args:
            progress: A fraction in ``[0, 1]``, or ``None`` when unknown.
            message: A short note for people, e.g. ``"page 3 of 6"``.
        """
        if progress is not None:
            progress = min(1.0, max(0.0, progress))
        self._progress(progress, message)
