"""Masking secret values wherever they could leave a call: outputs, errors, log lines.

A plugin may echo a secret it was granted (an API that returns the key it was sent, an
error message quoting a header). The engine runs every output and error of a call through a
:class:`Redactor` holding the values granted to that call before anything is recorded;
:class:`RedactingFilter` does the same for log records.

Each value is masked in its common encodings too — base64 (standard and URL-safe, padded or
not, also inside a longer base64 text such as a Basic ``Authorization`` header), URL encoding,
hex and JSON escaping — as :func:`synthral_sdk.masking.secret_forms` lists them, with what it
cannot catch. Values shorter than :data:`MIN_SECRET_LENGTH` are not masked: replacing every
"ab" would garble text while hiding nothing worth hiding.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any, Final

import orjson

from synthral.errors import SynthralError
from synthral_sdk.masking import MIN_SECRET_LENGTH, secret_forms

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactingFilter",
    "Redactor",
    "install_log_redaction",
    "process_redactor",
    "strings_in",
]

REDACTED: Final = "[REDACTED]"
"""What a secret value is replaced with."""

_NOTHING: Final = re.compile(r"(?!)")


def strings_in(value: Any) -> list[str]:
    """Every string in a JSON-like value, keys included."""
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _forms(value: str) -> set[str]:
    """The value, each string inside it when it is a JSON object or array, and their encodings.

    A structured credential reaches a plugin as JSON; a plugin may quote one field of it.
    """
    values = {value}
    if value[:1] in {"{", "["}:
        with contextlib.suppress(orjson.JSONDecodeError):
            values.update(strings_in(orjson.loads(value)))
    forms: set[str] = set()
    for each in values:
        forms |= secret_forms(each)
    return forms


def _all_forms(secrets: Iterable[str]) -> set[str]:
    forms: set[str] = set()
    for secret in secrets:
        forms |= _forms(secret)
    return forms


class Redactor:
    """Replaces every occurrence of known secret values (and their encodings) with ``[REDACTED]``.

    A value that is a JSON object or array (a structured credential, as plugins receive it)
    also registers each string inside it, so a plugin that quotes one field of it is caught.
    Thread-safe: values may be added and removed while other threads redact.

    Args:
        secrets: The values to mask at first.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern = _NOTHING
        self.add(*secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values)"

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, *secrets: str) -> None:
        """Mask these values from now on (those shorter than four characters are ignored)."""
        forms = _all_forms(secrets)
        with self._lock:
            if forms - self._values:
                self._values |= forms
                self._compile()

    def remove(self, *secrets: str) -> None:
        """Stop masking these values."""
        forms = _all_forms(secrets)
        with self._lock:
            if forms & self._values:
                self._values -= forms
                self._compile()

    def _compile(self) -> None:
        # Longest first, so a value that contains another is masked whole.
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else _NOTHING

    def text(self, text: str) -> str:
        """``text`` with every known value replaced."""
        if not self._values:
            return text
        return self._pattern.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings) with every known value replaced.

        Keys are masked too; numbers, booleans and None are returned as they are.
        """
        if not self._values:
            return value
        pattern = self._pattern

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return pattern.sub(REDACTED, item)
            if isinstance(item, dict):
                return {walk(key): walk(inner) for key, inner in item.items()}
            if isinstance(item, list | tuple):
                return [walk(inner) for inner in item]
            return item

        return walk(value)

    def error(self, error: SynthralError) -> SynthralError:
        """Mask the message and details of ``error`` in place and return it (its type is kept)."""
        if self._values:
            error.message = self.text(error.message)
            error.details = self.value(error.details)
            error.args = (error.message,)
        return error


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secret values in every record it sees.

    Attach it to the *handlers* (a filter on a logger does not see records that propagate
    from its children). The formatted message, the traceback and the stack are masked.

    Args:
        redactor: The values to mask; register more with ``filter.redactor.add(...)``.
        name: Passed to :class:`logging.Filter`.
    """

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor if redactor is not None else Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record; always let it through."""
        if not self.redactor:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return True  # a malformed record: the handler reports it when it formats it
        masked = self.redactor.text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        return True


process_redactor = Redactor()
"""Every secret value this process has handed to a step; log handlers mask them all."""


def install_log_redaction(*loggers: logging.Logger) -> RedactingFilter:
    """Mask :data:`process_redactor`'s values in every handler of ``loggers`` (default: the root logger)."""
    log_filter = RedactingFilter(process_redactor)
    for logger in loggers or (logging.getLogger(),):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(log_filter)
    return log_filter
