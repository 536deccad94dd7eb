"""The SynthralOS error tree, shared by plugins and the host.

Errors are grouped by what a caller should do about them:

* :class:`ConfigurationError` — the request is wrong; retrying the same request fails
  the same way. Fix the workflow, the config or the plugin.
* :class:`RetryableError` — a transient failure; the same request may succeed later.
* :class:`FatalError` — something is broken that a retry of this request will not fix,
  though it is not the caller's input either (a plugin bug, a protocol violation).
* :class:`Cancelled` — the call was cancelled. It derives from :class:`BaseException` so a
  plugin's ``except Exception`` cannot swallow it.

Every error has a stable ``code`` (snake case, part of the public contract), a user-facing
message that names the problem and the fix, structured ``details`` and a ``retryable``
flag. Errors cross the plugin boundary as data (see docs/plugin-protocol.md, section 4) and
are rebuilt on the other side as the same types by :func:`error_from_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from synthral_sdk._json import JSONObject, JSONValue

__all__ = [
    "BrowserKilled",
    "BudgetExceeded",
    "Cancelled",
    "ConfigInvalid",
    "ConfigurationError",
    "DeadlineExceeded",
    "EgressDenied",
    "FatalError",
    "FrameTooLarge",
    "IncompatiblePlugin",
    "InputInvalid",
    "InvocationTimeout",
    "NoHealthyProxy",
    "NonRetryableError",
    "OutputInvalid",
    "PluginCrashed",
    "PluginError",
    "PluginLoadError",
    "PluginProtocolError",
    "PluginStartError",
    "PluginUnavailable",
    "ProtocolError",
    "RetryableError",
    "RobotsDisallowed",
    "SynthralError",
    "UnknownCapability",
    "UnknownOperation",
    "error_from_data",
    "error_to_data",
]


class SynthralError(Exception):
    """Base of every error SynthralOS raises on purpose.

    Args:
        message: What went wrong and how to fix it, for a person to read.
        details: Structured facts about the failure (field names, limits, ids).
        retryable: Overrides the class default when given.
        error_type: The name the error travels under; defaults to the class name.
            Used when an error is rebuilt from a type this process does not know.
    """

    code: ClassVar[str] = "error"
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, JSONValue] | None = None,
        retryable: bool | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: JSONObject = dict(details or {})
        self.retryable = self.default_retryable if retryable is None else retryable
        self.error_type = error_type or type(self).__name__

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, retryable={self.retryable})"


class ConfigurationError(SynthralError):
    """The request, config or plugin is wrong; a retry fails the same way."""

    code = "configuration_error"


class RetryableError(SynthralError):
    """A transient failure: the same request may succeed later.

    Plugin authors raise this for rate limits, 5xx answers and dropped connections.
    """

    code = "retryable"
    default_retryable = True


class FatalError(SynthralError):
    """Something is broken that a retry of this request will not fix."""

    code = "fatal"


class NonRetryableError(FatalError):
    """Raised by plugin code for a failure that must not be retried (say, a 4xx answer)."""

    code = "non_retryable"


# -- configuration errors ---------------------------------------------------------------


class ConfigInvalid(ConfigurationError):
    """A capability's config does not satisfy its schema."""

    code = "config_invalid"


class InputInvalid(ConfigurationError):
    """An operation's input does not satisfy its schema."""

    code = "input_invalid"


class UnknownCapability(ConfigurationError):
    """No installed plugin offers a capability of that name."""

    code = "unknown_capability"


class UnknownOperation(ConfigurationError):
    """The capability exists but has no operation of that name."""

    code = "unknown_operation"


class IncompatiblePlugin(ConfigurationError):
    """The plugin was built for another SDK major version or protocol version."""

    code = "incompatible_plugin"


class PluginLoadError(ConfigurationError):
    """The plugin's code could not be loaded (import error, failing startup hook)."""

    code = "plugin_load_error"


class EgressDenied(ConfigurationError):
    """A request would reach an address the network policy refuses (loopback, private, metadata...).

    .. versionadded:: 1.5
    """

    code = "egress_denied"


class FrameTooLarge(ConfigurationError):
    """A message exceeds the protocol's frame size limit; pass large data as blobs."""

    code = "frame_too_large"


# -- retryable errors --------------------------------------------------------------------


class PluginCrashed(RetryableError):
    """The plugin process exited while calls were in flight."""

    code = "plugin_crashed"


class PluginUnavailable(RetryableError):
    """The plugin process is stopping or restarting; try again shortly."""

    code = "plugin_unavailable"


class InvocationTimeout(RetryableError):
    """The call did not finish within its timeout."""

    code = "invocation_timeout"


class DeadlineExceeded(InvocationTimeout):
    """The plugin noticed the call's deadline had passed and stopped."""

    code = "deadline_exceeded"


class PluginProtocolError(RetryableError):
    """The plugin process broke the protocol; it was stopped and will be restarted."""

    code = "plugin_protocol_error"


class PluginStartError(RetryableError):
    """The plugin process did not start or did not answer ``initialize``."""

    code = "plugin_start_error"


class BrowserKilled(RetryableError):
    """A browser was killed at one of its limits (memory, time); the next call starts a fresh one.

    .. versionadded:: 1.4
    """

    code = "browser_killed"


class NoHealthyProxy(RetryableError):
    """Every proxy of a pool is resting after failures; retry later or add proxies.

    .. versionadded:: 1.4
    """

    code = "no_healthy_proxy"


class RobotsDisallowed(NonRetryableError):
    """robots.txt forbids the URL to crawlers; a workflow may switch robots off (with a warning).

    .. versionadded:: 1.4
    """

    code = "robots_disallowed"


# -- fatal errors ------------------------------------------------------------------------


class BudgetExceeded(NonRetryableError):
    """A task spent its budget (steps, tokens, cost or time); the host stops it.

    .. versionadded:: 1.2
    """

    code = "budget_exceeded"


class PluginError(FatalError):
    """Plugin code raised an exception that is not part of this tree.

    ``error_type`` holds the original exception's class name (``"ValueError"``). Unknown
    exceptions are retryable by default, as in Temporal; a retry policy can list the type
    among its non-retryable ones.
    """

    code = "plugin_error"
    default_retryable = True


class OutputInvalid(FatalError):
    """The plugin returned output that does not satisfy its own output schema."""

    code = "output_invalid"


class ProtocolError(FatalError):
    """A message broke the JSON-RPC protocol (parse error, unknown method, bad params)."""

    code = "protocol_error"


# -- cancellation ------------------------------------------------------------------------


class Cancelled(BaseException):
    """The call was cancelled by its caller.

    Derives from :class:`BaseException` so that ``except Exception`` in plugin code does not
    swallow it.
    """

    code: ClassVar[str] = "cancelled"

    def __init__(self, message: str = "the call was cancelled") -> None:
        super().__init__(message)
        self.message = message


# -- crossing the boundary ---------------------------------------------------------------

_BY_NAME: Final[dict[str, type[SynthralError]]] = {
    cls.__name__: cls
    for cls in (
        SynthralError,
        ConfigurationError,
        RetryableError,
        FatalError,
        NonRetryableError,
        BudgetExceeded,
        ConfigInvalid,
        InputInvalid,
        UnknownCapability,
        UnknownOperation,
        IncompatiblePlugin,
        PluginLoadError,
        FrameTooLarge,
        EgressDenied,
        PluginCrashed,
        PluginUnavailable,
        InvocationTimeout,
        DeadlineExceeded,
        PluginProtocolError,
        PluginStartError,
        BrowserKilled,
        NoHealthyProxy,
        RobotsDisallowed,
        PluginError,
        OutputInvalid,
        ProtocolError,
    )
}


def register_error_type(cls: type[SynthralError]) -> type[SynthralError]:
    """Let errors of ``cls`` be rebuilt as ``cls`` when they cross the boundary.

    The host uses it for its own subclasses. Usable as a class decorator.
    """
    _BY_NAME[cls.__name__] = cls
    return cls


def error_to_data(error: SynthralError) -> JSONObject:
    """Return the ``data`` member of a JSON-RPC error object for ``error``."""
    return {
        "type": error.error_type,
        "errorCode": error.code,
        "retryable": error.retryable,
        "details": error.details,
    }


def error_from_data(message: str, data: Mapping[str, JSONValue] | None) -> SynthralError:
    """Rebuild an error from a JSON-RPC error's message and ``data`` member.

    A type this process knows comes back as that type. An unknown type (the plugin raised
    ``ValueError``) comes back as :class:`PluginError` whose ``error_type`` keeps the name.
    """
    data = data or {}
    type_name = data.get("type")
    type_name = type_name if isinstance(type_name, str) else "PluginError"
    retryable = data.get("retryable")
    details = data.get("details")
    cls = _BY_NAME.get(type_name, PluginError)
    return cls(
        message,
        details=details if isinstance(details, dict) else None,
        retryable=retryable if isinstance(retryable, bool) else None,
        error_type=type_name,
    )
