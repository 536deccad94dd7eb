"""The google_vision engine against a local stand-in of the Cloud Vision REST API."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import pytest
from conftest import KEY, Vision
from PIL import Image
from synthral_ocr_google_vision import API_KEY_SECRET, GoogleVisionConfig, GoogleVisionEngine

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.errors import ConfigInvalid, RetryableError
from synthral_sdk.testing import PluginConformance

sys.path.insert(0, str(Path(__file__).parents[3] / "tests" / "support"))
from pdfs import PdfPage, make_pdf

ENGINE = GoogleVisionEngine()


class TestConformance(PluginConformance):
    dist = "synthral-ocr-google-vision"


def png(size: tuple[int, int] = (800, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 255).save(out, format="PNG")
    return out.getvalue()


def config(vision: Vision, **more: object) -> GoogleVisionConfig:
    return GoogleVisionConfig.model_validate({"credential": "api_key", "endpoint": vision.url, **more})


def test_sends_each_page_to_images_annotate_and_maps_blocks_lines_and_words(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(png(), media_type="image/png")
    context = Context(blobs=blobs, secrets={API_KEY_SECRET: KEY})
    result = ENGINE.recognize(OCRRequest(document=ref, languages=["en"]), config(vision), context)
    [sent] = vision.requests
    request = sent["body"]["requests"][0]
    assert request["features"] == [{"type": "DOCUMENT_TEXT_DETECTION"}]
    assert request["imageContext"] == {"languageHints": ["en"]}
    assert Image.open(io.BytesIO(base64.b64decode(request["image"]["content"]))).size == (800, 300)
    [page] = result.pages
    [block] = page.blocks
    assert [line.text for line in block.lines] == ["Invoice 4721", "Total due"]
    assert block.words[1].bbox.x == 220 and block.words[1].confidence == pytest.approx(0.97)
    assert result.text == "Invoice 4721\nTotal due"


def test_a_text_layer_page_never_leaves_the_machine(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(make_pdf([PdfPage(lines=[(72, 72, "Kept local text")])]), media_type="application/pdf")
    result = ENGINE.recognize(
        OCRRequest(document=ref), config(vision), Context(blobs=blobs, secrets={API_KEY_SECRET: KEY})
    )
    assert vision.requests == []
    assert result.pages[0].source == "text_layer" and "Kept local text" in result.text


def test_credentials_are_required_and_refusals_name_the_secret(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(png(), media_type="image/png")
    with pytest.raises(ConfigInvalid, match=f"not granted the secret {API_KEY_SECRET}"):
        ENGINE.recognize(OCRRequest(document=ref), config(vision), Context(blobs=blobs))
    with pytest.raises(ConfigInvalid, match="refused the credentials"):
        ENGINE.recognize(
            OCRRequest(document=ref), config(vision), Context(blobs=blobs, secrets={API_KEY_SECRET: "bad"})
        )
    with pytest.raises(ValueError, match="credential"):
        GoogleVisionConfig.model_validate({})


def test_server_errors_are_retryable(vision: Vision, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(png(), media_type="image/png")
    vision.fail_with = 503
    with pytest.raises(RetryableError, match="503"):
        ENGINE.recognize(OCRRequest(document=ref), config(vision), Context(blobs=blobs, secrets={API_KEY_SECRET: KEY}))
