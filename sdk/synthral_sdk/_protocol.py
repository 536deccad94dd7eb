"""Message shapes, error codes and their mapping to exceptions (docs/plugin-protocol.md)."""

from __future__ import annotations

from typing import Final, cast

import orjson

from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk.errors import (
    Cancelled,
    ConfigInvalid,
    DeadlineExceeded,
    FrameTooLarge,
    IncompatiblePlugin,
    InputInvalid,
    OutputInvalid,
    PluginUnavailable,
    ProtocolError,
    SynthralError,
    UnknownCapability,
    UnknownOperation,
    error_from_data,
    error_to_data,
)

PROTOCOL_VERSION: Final = "1.1"

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
NOT_INITIALIZED: Final = -32002
FRAME_TOO_LARGE: Final = -32001
UNKNOWN_CAPABILITY: Final = -32010
UNKNOWN_OPERATION: Final = -32011
CONFIG_INVALID: Final = -32012
INPUT_INVALID: Final = -32013
OUTPUT_INVALID: Final = -32014
INCOMPATIBLE: Final = -32020
SHUTTING_DOWN: Final = -32030
PLUGIN_ERROR: Final = -32040
DEADLINE_EXCEEDED: Final = -32041
REQUEST_CANCELLED: Final = -32800

PROTOCOL_CODES: Final = frozenset(
    {PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR, NOT_INITIALIZED}
)

_CODE_BY_TYPE: Final[dict[type[SynthralError], int]] = {
    FrameTooLarge: FRAME_TOO_LARGE,
    UnknownCapability: UNKNOWN_CAPABILITY,
    UnknownOperation: UNKNOWN_OPERATION,
    ConfigInvalid: CONFIG_INVALID,
    InputInvalid: INPUT_INVALID,
    OutputInvalid: OUTPUT_INVALID,
    IncompatiblePlugin: INCOMPATIBLE,
    PluginUnavailable: SHUTTING_DOWN,
    DeadlineExceeded: DEADLINE_EXCEEDED,
}

CANCEL_METHOD: Final = "$/cancelRequest"
LOG_METHOD: Final = "$/log"
PROGRESS_METHOD: Final = "$/progress"
EVENT_METHOD: Final = "$/event"


def protocol_major(version: str) -> str:
    """The major part of a ``MAJOR.MINOR`` protocol version."""
    return version.partition(".")[0]


def encode(message: JSONObject) -> bytes:
    """Serialise one message as a frame, newline included."""
    return orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)


def request(request_id: int, method: str, params: JSONObject) -> JSONObject:
    """A request object."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def notification(method: str, params: JSONObject) -> JSONObject:
    """A notification object."""
    return {"jsonrpc": "2.0", "method": method, "params": params}


def result(request_id: int | None, value: JSONValue) -> JSONObject:
    """A successful response object."""
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: int | None, code: int, message: str, data: JSONObject) -> JSONObject:
    """An error response object."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message, "data": data}}


def protocol_error(request_id: int | None, code: int, message: str) -> JSONObject:
    """An error response for a protocol-level failure (codes -32700 … -32600, -32002)."""
    exc = ProtocolError(message, details={"rpcCode": code})
    return error(request_id, code, message, error_to_data(exc))


def error_for_exception(request_id: int | None, exc: SynthralError | Cancelled) -> JSONObject:
    """The error response that carries ``exc`` across the boundary."""
    if isinstance(exc, Cancelled):
        data: JSONObject = {"type": "Cancelled", "errorCode": "cancelled", "retryable": False, "details": {}}
        return error(request_id, REQUEST_CANCELLED, exc.message, data)
    code = next((c for t, c in _CODE_BY_TYPE.items() if isinstance(exc, t)), PLUGIN_ERROR)
    return error(request_id, code, exc.message, error_to_data(exc))


def exception_from_error(obj: object) -> SynthralError | Cancelled:
    """Rebuild the exception an error response carries."""
    if not isinstance(obj, dict):
        return ProtocolError(f"malformed error object: {str(obj)[:200]}")
    body = cast(JSONObject, obj)
    code = body.get("code")
    message = body.get("message")
    message = message if isinstance(message, str) else "the plugin reported an error without a message"
    data = body.get("data")
    if code == REQUEST_CANCELLED:
        return Cancelled(message)
    if code in PROTOCOL_CODES:
        return ProtocolError(message, details={"rpcCode": cast(int, code)})
    return error_from_data(message, data if isinstance(data, dict) else None)
