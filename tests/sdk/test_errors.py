"""Errors keep their type, retryability and details across the boundary."""

from __future__ import annotations

import pytest

from synthral_sdk import _protocol as proto
from synthral_sdk.errors import (
    Cancelled,
    ConfigInvalid,
    DeadlineExceeded,
    NonRetryableError,
    PluginError,
    ProtocolError,
    RetryableError,
    SynthralError,
    error_from_data,
    error_to_data,
)


@pytest.mark.parametrize(
    "error",
    [
        ConfigInvalid("bad config", details={"errors": []}),
        RetryableError("rate limited", details={"retry_after": 5}),
        NonRetryableError("404 from the API"),
        DeadlineExceeded("too slow"),
        RetryableError("explicitly not retryable", retryable=False),
    ],
)
def test_round_trip_through_an_error_response(error: SynthralError) -> None:
    response = proto.error_for_exception(3, error)
    rebuilt = proto.exception_from_error(response["error"])
    assert type(rebuilt) is type(error)
    assert isinstance(rebuilt, SynthralError)
    assert (rebuilt.message, rebuilt.details, rebuilt.retryable) == (error.message, error.details, error.retryable)


def test_unknown_types_arrive_as_plugin_error_keeping_the_name() -> None:
    rebuilt = error_from_data("boom", {"type": "KeyError", "retryable": True, "details": {}})
    assert isinstance(rebuilt, PluginError) and rebuilt.error_type == "KeyError" and rebuilt.retryable


def test_codes_follow_the_protocol_table() -> None:
    assert proto.error_for_exception(1, ConfigInvalid("x"))["error"]["code"] == -32012  # type: ignore[index]
    assert proto.error_for_exception(1, DeadlineExceeded("x"))["error"]["code"] == -32041  # type: ignore[index]
    assert proto.error_for_exception(1, RetryableError("x"))["error"]["code"] == -32040  # type: ignore[index]
    assert proto.error_for_exception(1, Cancelled())["error"]["code"] == -32800  # type: ignore[index]
    assert isinstance(proto.exception_from_error({"code": -32800, "message": "c"}), Cancelled)
    assert isinstance(proto.exception_from_error({"code": -32601, "message": "m"}), ProtocolError)
    assert isinstance(proto.exception_from_error("garbage"), ProtocolError)


def test_data_shape() -> None:
    assert error_to_data(RetryableError("x", details={"a": 1})) == {
        "type": "RetryableError",
        "errorCode": "retryable",
        "retryable": True,
        "details": {"a": 1},
    }
