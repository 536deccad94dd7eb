"""The encodings of a secret that are masked with it, and the ones that cannot be."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus, urlencode

import orjson
import pytest

from synthral_sdk.masking import MIN_FRAGMENT_LENGTH, secret_forms

SECRET = 'p@ss/wörd "x"+y=z:k3y_1234567890'


def mask(text: str, secret: str = SECRET) -> str:
    for form in sorted(secret_forms(secret), key=len, reverse=True):
        text = text.replace(form, "***")
    return text


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "b64": lambda s: base64.b64encode(s.encode()).decode(),
    "b64-unpadded": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "b64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "b64url-unpadded": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "url": lambda s: quote(s, safe=""),
    "url-lower-hex": lambda s: re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")),
    "url-plus": quote_plus,
    "hex": lambda s: s.encode().hex(),
    "HEX": lambda s: s.encode().hex().upper(),
    "json-ascii": lambda s: json.dumps(s)[1:-1],
    "json": lambda s: orjson.dumps(s).decode()[1:-1],
    "json-slash": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_each_common_encoding_of_a_secret_is_masked(encoding: str) -> None:
    encoded = ENCODINGS[encoding](SECRET)
    assert encoded != SECRET or encoding == "plain"
    assert mask(f"before {encoded} after") == "before *** after"


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "admin", "service-account"])
def test_a_secret_inside_a_longer_base64_text_is_masked_at_every_offset(user: str) -> None:
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        header = encoder(f"{user}:{SECRET}".encode()).decode()
        masked = mask(f"Authorization: Basic {header}")
        assert "***" in masked
        # What is left are the characters that mix the secret's bits with its neighbours': too few to matter.
        left = masked.removeprefix("Authorization: Basic ").replace("***", " ").split()
        assert sum(len(piece) for piece in left) <= len(encoder(f"{user}:".encode()).decode()) + 4


def test_url_and_json_encodings_are_caught_inside_longer_text() -> None:
    query = urlencode({"user": "ada", "key": SECRET, "page": 2})
    assert "***" in mask(query) and "page=2" in mask(query)
    body = orjson.dumps({"user": "ada", "key": SECRET}).decode()
    assert mask(body) == '{"user":"ada","key":"***"}'
    escaped = json.dumps({"user": "ada", "key": SECRET})
    assert mask(escaped) == '{"user": "ada", "key": "***"}'


def test_short_secrets_and_short_fragments_are_not_masked() -> None:
    assert secret_forms("abc") == frozenset()
    assert "abcd" in secret_forms("abcd")
    assert all(len(form) >= 4 for form in secret_forms("abcd"))
    # Inside a longer base64 text a short secret leaves fewer stable characters than the minimum.
    assert all(
        len(form) >= MIN_FRAGMENT_LENGTH
        for form in secret_forms("abcd")
        if form not in {"abcd", "YWJjZA==", "YWJjZA", "61626364", "61626364".upper()}
    )


def test_what_masking_cannot_catch_is_left_as_it_is() -> None:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    twice = base64.b64encode(quote(SECRET, safe="").encode()).decode()
    reversed_secret = SECRET[::-1]
    for text in (digest, twice, reversed_secret):
        assert mask(text) == text
