"""The plugin as the host sees it: conformance, and calls through a runner process that survives bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from drawing import LINES, draw_text, encode, request, words

from synthral_sdk import BlobStore, CapabilitySpec, OCRResult
from synthral_sdk.errors import InputInvalid
from synthral_sdk.testing import PluginConformance, RunnerClient

DIST = "synthral-ocr-rapidocr"


class TestConformance(PluginConformance):
    dist = DIST


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient(DIST) as client:
        yield client


def test_offers_the_rapidocr_engine(runner: RunnerClient) -> None:
    [spec] = [CapabilitySpec.model_validate(item) for item in cast(list[Any], runner.initialize_result["capabilities"])]
    assert (spec.name, spec.kind) == ("rapidocr", "ocr_engine")
    assert {"languages", "dpi", "max_pages", "page_workers"} <= set(
        cast(dict[str, Any], spec.config_schema["properties"])
    )


def test_bad_documents_fail_one_by_one_and_the_process_lives_on(runner: RunnerClient) -> None:
    store = BlobStore(runner.blob_root)
    bad = {
        "not a document": store.put(b"just some words, not a picture", media_type="text/plain"),
        "truncated": store.put(encode(draw_text(LINES), "PNG")[:300], media_type="image/png"),
        "a broken PDF": store.put(b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", media_type="application/pdf"),
    }
    messages = {}
    for name, ref in bad.items():
        with pytest.raises(InputInvalid) as caught:
            runner.invoke("rapidocr", request(ref), operation="recognize")
        messages[name] = caught.value.message
    assert "neither a PDF nor an image" in messages["not a document"]
    assert "damaged or truncated" in messages["truncated"]
    assert "cannot be read" in messages["a broken PDF"]
    good = store.put(encode(draw_text(LINES), "PNG"), media_type="image/png")
    output = runner.invoke("rapidocr", request(good), operation="recognize")
    assert {"invoice", "4721"} <= words(OCRResult.model_validate(output).text)
    assert runner.returncode is None
