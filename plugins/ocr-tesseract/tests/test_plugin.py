"""The plugin as the host sees it: entry point, start-up, and calls through a runner process."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from drawing import PDF_DPI, request, words
from synthral_ocr_tesseract import plugin

from synthral_sdk import BlobRef, BlobStore, CapabilitySpec, OCRResult
from synthral_sdk.errors import InputInvalid, NonRetryableError
from synthral_sdk.testing import PluginConformance, RunnerClient

DIST = "synthral-ocr-tesseract"


class TestConformance(PluginConformance):
    dist = DIST


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient(DIST) as client:
        yield client


def store_in(client: RunnerClient, source: BlobStore, ref: BlobRef) -> BlobRef:
    """Put a test document into the blob store the runner reads."""
    return BlobStore(client.blob_root).put(source.get(ref), media_type=ref.media_type, name=ref.name)


def notes(client: RunnerClient, method: str) -> list[dict[str, Any]]:
    """The params of every notification of ``method`` the runner sent."""
    return [cast(dict[str, Any], note["params"]) for note in client.notifications if note["method"] == method]


def test_offers_the_tesseract_engine(runner: RunnerClient) -> None:
    [spec] = [CapabilitySpec.model_validate(item) for item in cast(list[Any], runner.initialize_result["capabilities"])]
    assert (spec.name, spec.kind) == ("tesseract", "ocr_engine")
    assert "languages" in cast(dict[str, Any], spec.config_schema["properties"])


def test_reads_an_image_through_the_runner(runner: RunnerClient, blobs: BlobStore, png: BlobRef) -> None:
    ref = store_in(runner, blobs, png)
    output = runner.invoke("tesseract", {"document": ref.to_json()}, operation="recognize")
    result = OCRResult.model_validate(output)
    assert {"invoice", "total", "shopping"} <= words(result.text)
    assert result.engine.startswith("tesseract ")


def test_reports_progress_per_page(runner: RunnerClient, blobs: BlobStore, pdf: BlobRef) -> None:
    ref = store_in(runner, blobs, pdf)
    request_id = runner.send_request(
        "invoke",
        {"capability": "tesseract", "operation": "recognize", "config": {"dpi": PDF_DPI}, "input": request(ref)},
    )
    runner.wait(request_id)
    progress = [
        (note["progress"], note["message"]) for note in notes(runner, "$/progress") if note["requestId"] == request_id
    ]
    assert progress == [(0.5, "page 1 of 2"), (1.0, "page 2 of 2")]


def test_errors_arrive_typed_with_their_message(
    runner: RunnerClient, blobs: BlobStore, png: BlobRef, tmp_path: Path
) -> None:
    ref = store_in(runner, blobs, png)
    with pytest.raises(InputInvalid, match="'klingon', which is not installed"):
        runner.invoke("tesseract", request(ref, languages=["klingon"]), operation="recognize")
    elsewhere = BlobStore(tmp_path).put(b"bytes the runner's store never saw", media_type="image/png")
    with pytest.raises(InputInvalid, match="not in the blob store"):
        runner.invoke("tesseract", request(elsewhere), operation="recognize")


def test_starts_without_tesseract_and_says_so_per_call(blobs: BlobStore, png: BlobRef, tmp_path: Path) -> None:
    with RunnerClient(DIST, env={"PATH": str(tmp_path)}) as client:
        warnings = [note["message"] for note in notes(client, "$/log") if note["level"] == "warning"]
        assert any("not found on PATH" in str(message) for message in warnings), client.notifications
        ref = store_in(client, blobs, png)
        with pytest.raises(NonRetryableError, match="apt-get install tesseract-ocr"):
            client.invoke("tesseract", request(ref), operation="recognize")


def test_startup_logs_the_tesseract_it_found(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="synthral_ocr_tesseract"):
        plugin.synthral_startup()
    assert any(record.getMessage().startswith("tesseract 5.") for record in caplog.records), caplog.text


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("3", "3")])
def test_limits_tesseract_to_one_thread_unless_told_otherwise(given: str | None, expected: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "OMP_THREAD_LIMIT"}
    if given is not None:
        env["OMP_THREAD_LIMIT"] = given
    code = "import os, synthral_ocr_tesseract.plugin; print(os.environ['OMP_THREAD_LIMIT'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected
