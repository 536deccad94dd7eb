r"""The forms a secret takes on its way out, so that each of them can be masked.

A plugin rarely echoes a secret as it received it: an HTTP library puts it in a Basic
``Authorization`` header (base64 of ``user:secret``), a URL (percent-encoded), a JSON body
(escaped) or a hex dump. CI systems mask these encodings of a secret along with the value
itself; the runner and the host do the same with :func:`secret_forms`.

What it covers, for a secret of at least :data:`MIN_SECRET_LENGTH` characters:

- the value itself;
- base64, standard and URL-safe alphabets, with and without ``=`` padding, alone or inside a
  longer base64 text at any byte offset (``user:secret`` in a Basic header) — inside a longer
  text only the characters that depend on the secret's bytes alone are masked, and only
  when there are at least :data:`MIN_FRAGMENT_LENGTH` of them;
- URL (percent) encoding, with ``%20`` or ``+`` for spaces, in upper- or lower-case hex;
- hexadecimal, lower- and upper-case;
- JSON string escaping (with or without ``\uXXXX`` for non-ASCII, with or without ``\/``).

Hex, URL and JSON encodings work byte by byte (or character by character), so they are
caught inside longer encoded text too. What it cannot cover: any other transformation a
plugin applies — a hash, encryption, compression, two encodings stacked (base64 of a
URL-encoded secret), a secret cut into pieces, reversed or re-cased, or a base64 fragment
shorter than :data:`MIN_FRAGMENT_LENGTH`. Masking limits what a well-meaning plugin leaks by
accident; it does not stop a plugin that means to leak — only limiting what a plugin may
reach does.

.. versionadded:: 1.5
"""

from __future__ import annotations

import base64
import json
import re
from typing import Final
from urllib.parse import quote, quote_plus

import orjson

__all__ = ["MIN_FRAGMENT_LENGTH", "MIN_SECRET_LENGTH", "secret_forms"]

MIN_SECRET_LENGTH: Final = 4
"""Values shorter than this are not masked: replacing every "ab" would garble text while hiding nothing."""

MIN_FRAGMENT_LENGTH: Final = 8
"""The shortest base64 fragment masked when a secret sits inside a longer base64 text."""

_URL_SAFE: Final = str.maketrans("+/", "-_")
_ESCAPE: Final = re.compile(r"%[0-9A-F]{2}")
_LEADING_UNSTABLE: Final = (0, 2, 3)
"""Base64 characters at the start that mix bits of the bytes before the secret, per offset (0, 1, 2)."""


def _base64_forms(raw: bytes) -> set[str]:
    forms: set[str] = set()
    whole = base64.b64encode(raw).decode()
    forms.update({whole, whole.rstrip("=")})
    for shift, lead in enumerate(_LEADING_UNSTABLE):
        # The secret at byte offset `shift` (mod 3) of a longer text: the characters of full
        # 3-byte groups made only of its bytes are the same whatever surrounds it.
        size = shift + len(raw)
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        fragment = encoded[lead : (size // 3) * 4]
        if len(fragment) >= MIN_FRAGMENT_LENGTH:
            forms.add(fragment)
    return forms | {form.translate(_URL_SAFE) for form in forms}


def secret_forms(secret: str) -> frozenset[str]:
    """``secret`` and its common encodings (base64, URL, hex, JSON-escaped), each worth masking.

    Args:
        secret: A secret value as a plugin receives it.

    Returns:
        The distinct forms, the value itself included; empty when the value is shorter than
        :data:`MIN_SECRET_LENGTH`. Mask them longest first, so a form that contains another
        is masked whole.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        return frozenset()
    raw = secret.encode()
    forms = {secret, raw.hex(), raw.hex().upper()}
    forms |= _base64_forms(raw)
    for quoted in (quote(secret, safe=""), quote_plus(secret, safe="")):
        forms.update({quoted, _ESCAPE.sub(lambda escape: escape.group().lower(), quoted)})
    escaped = json.dumps(secret)[1:-1]  # non-ASCII as \uXXXX
    forms.update({orjson.dumps(secret).decode()[1:-1], escaped, escaped.replace("/", "\\/")})
    return frozenset(form for form in forms if len(form) >= MIN_SECRET_LENGTH)
