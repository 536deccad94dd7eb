"""Plugin module for runner tests, loaded through the 'entryPoints' initialize parameter."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import quote

from pydantic import BaseModel, Field

from synthral_sdk import Context, NoConfig, Node, OCREngine, OCRRequest, OCRResult, hookimpl


class Value(BaseModel):
    value: int = 0


class Size(BaseModel):
    kib: int = Field(ge=0)


class Blob(BaseModel):
    text: str


class Double(Node[Value, Value]):
    name = "double"

    def run(self, inputs: Value, config: NoConfig, context: Context) -> Value:
        print("this print must not reach the protocol stream")
        return Value(value=inputs.value * 2)


class Wait(Node[Value, Value]):
    """Async: sleeps for value seconds."""

    name = "wait"

    async def run(self, inputs: Value, config: NoConfig, context: Context) -> Value:
        await asyncio.sleep(inputs.value)
        return inputs


class Spin(Node[Value, Value]):
    """Sync and cooperative: loops until cancelled or value seconds pass."""

    name = "spin"

    def run(self, inputs: Value, config: NoConfig, context: Context) -> Value:
        end = time.monotonic() + inputs.value
        while time.monotonic() < end:
            context.check()
            time.sleep(0.01)
        return inputs


class Large(Node[Size, Blob]):
    name = "large"

    def run(self, inputs: Size, config: NoConfig, context: Context) -> Blob:
        return Blob(text="y" * inputs.kib * 1024)


class Wrong(Node[Value, Value]):
    """Returns the wrong type: a plugin bug."""

    name = "wrong"

    def run(self, inputs: Value, config: NoConfig, context: Context) -> Value:
        return {"value": "not a number"}  # type: ignore[return-value]


class Leak(Node[Value, Value]):
    """Logs and fails quoting its secret the way libraries encode it (a plugin bug)."""

    name = "leak"

    def run(self, inputs: Value, config: NoConfig, context: Context) -> Value:
        secret = context.secrets["token"]
        context.log.warning("sending Basic %s", base64.b64encode(f"ops:{secret}".encode()).decode())
        raise ValueError(f"refused {quote(secret, safe='')} ({secret.encode().hex()})")


class Reader(OCREngine):
    name = "reader"

    def recognize(self, request: OCRRequest, config: NoConfig, context: Context) -> OCRResult:
        data = context.blobs.get(request.document)
        return OCRResult(engine="fake", text=data.decode(), pages=[])


@hookimpl
def synthral_nodes() -> list[Node]:  # type: ignore[type-arg]
    return [Double(), Wait(), Spin(), Large(), Wrong(), Leak()]


@hookimpl
def synthral_ocr_engines() -> list[OCREngine]:  # type: ignore[type-arg]
    return [Reader()]
