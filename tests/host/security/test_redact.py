"""Masking secret values in text, JSON-like values, errors and log records."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import orjson
import pytest

from synthral.errors import PluginError, RetryableError
from synthral.security.redact import REDACTED, RedactingFilter, Redactor

TOKEN = "sk_live_4f9a2b7c1d"


def test_every_occurrence_in_text_is_replaced() -> None:
    redactor = Redactor([TOKEN])
    assert redactor.text(f"sent {TOKEN}, got {TOKEN}!") == f"sent {REDACTED}, got {REDACTED}!"
    assert redactor.text("nothing to hide") == "nothing to hide"


def test_a_value_containing_another_is_masked_whole() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.text("x abcdefgh y abcd") == f"x {REDACTED} y {REDACTED}"


def test_short_values_are_not_masked() -> None:
    redactor = Redactor(["abc", ""])
    assert not redactor
    assert redactor.text("abc abc") == "abc abc"


def test_values_with_pattern_characters_are_matched_literally() -> None:
    redactor = Redactor(["p@ss.w*rd(1)?"])
    assert redactor.text("login p@ss.w*rd(1)? / pXss.wwrd1") == f"login {REDACTED} / pXss.wwrd1"


def test_nested_values_are_masked_in_a_copy() -> None:
    redactor = Redactor([TOKEN])
    original = {
        "headers": {"authorization": f"Bearer {TOKEN}", TOKEN: "as a key"},
        "items": [TOKEN, 1, 2.5, True, None, ("tuple", TOKEN)],
    }
    masked = redactor.value(original)
    assert masked == {
        "headers": {"authorization": f"Bearer {REDACTED}", REDACTED: "as a key"},
        "items": [REDACTED, 1, 2.5, True, None, ["tuple", REDACTED]],
    }
    assert original["items"][0] == TOKEN  # the input is left as it was
    assert TOKEN not in orjson.dumps(masked).decode()


def test_a_structured_secret_also_masks_each_string_inside_it() -> None:
    structured = orjson.dumps({"username": "admin-ops", "password": "correct horse", "port": 5432}).decode()
    redactor = Redactor([structured])
    text = f"user admin-ops with correct horse; whole: {structured}"
    assert redactor.text(text) == f"user {REDACTED} with {REDACTED}; whole: {REDACTED}"
    assert "5432" in redactor.text("port 5432")  # only strings count, not numbers


def test_values_can_be_added_and_removed() -> None:
    redactor = Redactor()
    assert redactor.value({"a": TOKEN}) == {"a": TOKEN}
    redactor.add(TOKEN)
    assert redactor.text(TOKEN) == REDACTED
    redactor.remove(TOKEN)
    assert redactor.text(TOKEN) == TOKEN
    assert "4f9a" not in repr(Redactor([TOKEN]))


def test_an_error_keeps_its_type_and_loses_the_secret() -> None:
    error = RetryableError(f"the server refused {TOKEN}", details={"sent": {"key": TOKEN}, "status": 401})
    masked = Redactor([TOKEN]).error(error)
    assert masked is error and type(masked) is RetryableError and masked.retryable
    assert masked.message == f"the server refused {REDACTED}"
    assert str(masked) == masked.message and TOKEN not in repr(masked)
    assert masked.details == {"sent": {"key": REDACTED}, "status": 401}
    plain = PluginError(f"ValueError: {TOKEN}", error_type="ValueError")
    assert Redactor([TOKEN]).error(plain).error_type == "ValueError"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, RedactingFilter]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    masking = RedactingFilter()
    handler.addFilter(masking)
    logger = logging.getLogger("synthral.test.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, masking
    logger.removeHandler(handler)


def test_the_log_filter_masks_registered_values_in_messages_and_arguments(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, masking = captured
    logger.info("before registering: %s", TOKEN)
    masking.redactor.add(TOKEN)
    logger.info("calling with %s", TOKEN)
    logger.warning(f"inline {TOKEN}")
    logger.info("nothing secret here: %d", 42)
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"INFO before registering: {TOKEN}"
    assert lines[1:] == [f"INFO calling with {REDACTED}", f"WARNING inline {REDACTED}", "INFO nothing secret here: 42"]


def test_the_log_filter_masks_tracebacks_and_stacks(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, masking = captured
    masking.redactor.add(TOKEN)
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        logger.exception("the call failed")
    logger.info("where", stack_info=True)  # the stack quotes this line: sk_live_4f9a2b7c1d
    text = stream.getvalue()
    assert "the call failed" in text and f"ValueError: bad token {REDACTED}" in text
    stack = text.split("Stack (most recent call last)", 1)[1]
    assert f"the stack quotes this line: {REDACTED}" in stack
    assert TOKEN not in text


def test_a_child_logger_s_records_are_masked_by_a_filter_on_the_handler(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, masking = captured
    masking.redactor.add(TOKEN)
    logger.getChild("plugin").error("echoed %s", TOKEN)
    assert stream.getvalue() == f"ERROR echoed {REDACTED}\n"


def test_common_encodings_of_a_value_are_masked_too() -> None:
    secret = "p@ss/wörd+" + TOKEN
    redactor = Redactor([secret])
    basic = base64.b64encode(f"ops:{secret}".encode()).decode()
    output = {
        "b64": base64.b64encode(secret.encode()).decode(),
        "b64url": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "basic": f"Basic {basic}",
        "url": f"https://api.example.com/?key={quote(secret, safe='')}&page=2",
        "hex": secret.encode().hex(),
        "json": json.dumps({"key": secret}),
    }
    masked = orjson.dumps(redactor.value(output)).decode()
    for form in (secret, *output.values(), basic):
        assert form not in masked, form
    assert "page=2" in masked and masked.count(REDACTED) == len(output)


def test_encodings_of_each_field_of_a_structured_secret_are_masked() -> None:
    structured = orjson.dumps({"username": "admin-ops", "password": "correct horse"}).decode()
    redactor = Redactor([structured])
    text = f"{base64.b64encode(b'correct horse').decode()} {quote('correct horse')} {b'admin-ops'.hex()}"
    assert redactor.text(text) == f"{REDACTED} {REDACTED} {REDACTED}"
