"""The framework's half of a capability: models from generics, validation, sync and async."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel, Field

from synthral_sdk import BlobStore, CapabilityKind, Context, NoConfig, Node, OCREngine, OCRRequest, OCRResult
from synthral_sdk.errors import Cancelled, ConfigInvalid, ConfigurationError, InputInvalid, UnknownOperation
from synthral_sdk.testing import call


class In(BaseModel):
    n: int = Field(ge=0)


class Out(BaseModel):
    n: int


class Cfg(BaseModel):
    factor: int = 2


class Times(Node[In, Out, Cfg]):
    """Multiplies n by the factor."""

    name = "times"

    def run(self, inputs: In, config: Cfg, context: Context) -> Out:
        return Out(n=inputs.n * config.factor)


class AsyncPlain(Node[In, Out]):
    name = "async-plain"

    async def run(self, inputs: In, config: NoConfig, context: Context) -> Out:
        await asyncio.sleep(0)
        return Out(n=inputs.n)


def test_models_come_from_the_generic_arguments() -> None:
    assert (Times.input_model, Times.output_model, Times.config_model) == (In, Out, Cfg)
    assert AsyncPlain.config_model is NoConfig
    spec = Times().spec()
    assert spec.kind is CapabilityKind.NODE and spec.description == "Multiplies n by the factor."
    assert spec.operations["run"].input_schema["properties"]["n"]["minimum"] == 0  # type: ignore[index]
    assert spec.config_schema["properties"]["factor"]["default"] == 2  # type: ignore[index]


def test_sync_and_async_runs() -> None:
    assert call(Times(), {"n": 4}, config={"factor": 3}) == {"n": 12}
    assert call(AsyncPlain(), {"n": 4}) == {"n": 4}


def test_validation_errors_name_every_bad_field() -> None:
    with pytest.raises(InputInvalid) as bad_input:
        call(Times(), {"n": -1})
    assert "input field 'n'" in bad_input.value.message and "Fix the input of 'times.run'" in bad_input.value.message
    with pytest.raises(ConfigInvalid) as bad_config:
        call(Times(), {"n": 1}, config={"factor": "lots"})
    assert bad_config.value.details["errors"][0]["loc"] == ["factor"]  # type: ignore[index]
    with pytest.raises(ConfigInvalid, match="Extra inputs"):
        call(AsyncPlain(), {"n": 1}, config={"surprise": True})
    with pytest.raises(UnknownOperation, match="it has: run"):
        call(Times(), {"n": 1}, operation="walk")


def test_a_bad_name_is_reported_with_the_fix() -> None:
    class BadName(Times):
        name = "Bad Name"

    with pytest.raises(ConfigurationError, match="lowercase"):
        BadName().spec()


def test_an_incomplete_capability_cannot_be_instantiated() -> None:
    class Incomplete(OCREngine):
        name = "incomplete"

    with pytest.raises(TypeError, match="recognize"):
        Incomplete()  # type: ignore[abstract]


def test_cancelling_a_sync_call_waits_for_the_thread_and_sets_the_flag() -> None:
    started = threading.Event()
    seen_cancel = threading.Event()

    class Loop(Node[In, Out]):
        name = "loop"

        def run(self, inputs: In, config: NoConfig, context: Context) -> Out:
            started.set()
            while not context.cancelled:
                threading.Event().wait(0.01)
            seen_cancel.set()
            return Out(n=0)

    async def scenario(tmp: str) -> None:
        context = Context(blobs=BlobStore(tmp))
        task = asyncio.create_task(Loop().call("run", {}, {"n": 1}, context))
        await asyncio.to_thread(started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen_cancel.is_set()  # the task ended only after the thread returned

    import tempfile

    asyncio.run(scenario(tempfile.mkdtemp()))


def test_context_check_raises_cancelled_and_deadline() -> None:
    import tempfile

    from synthral_sdk.errors import DeadlineExceeded

    event = threading.Event()
    context = Context(blobs=BlobStore(tempfile.mkdtemp()), cancel_event=event, timeout=60)
    context.check()
    event.set()
    with pytest.raises(Cancelled):
        context.check()
    expired = Context(blobs=BlobStore(tempfile.mkdtemp()), timeout=0)
    with pytest.raises(DeadlineExceeded):
        expired.check()
    assert isinstance(Cancelled(), BaseException) and not isinstance(Cancelled(), Exception)


def test_ocr_engine_kind_uses_fixed_models() -> None:
    class Echo(OCREngine):
        name = "echo"

        def recognize(self, request: OCRRequest, config: NoConfig, context: Context) -> OCRResult:
            return OCRResult(engine="echo", text=context.blobs.get(request.document).decode(), pages=[])

    import tempfile

    store = BlobStore(tempfile.mkdtemp())
    ref = store.put(b"hello")
    assert call(Echo(), {"document": ref.to_json()}, blobs=store)["text"] == "hello"
