"""The easyocr engine on the real EasyOCR library: weights from a folder, the whole path, the mapping."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from synthral_ocr_easyocr import EasyOCRConfig, EasyOCREngine, lines_from_easyocr

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.errors import ConfigInvalid
from synthral_sdk.testing import PluginConformance


class TestConformance(PluginConformance):
    dist = "synthral-ocr-easyocr"


def test_weights_dir_is_required_and_checked() -> None:
    with pytest.raises(ValueError, match="weights_dir"):
        EasyOCRConfig.model_validate({})
    with pytest.raises(ValueError, match=r"lacks craft_mlt_25k\.pth"):
        EasyOCRConfig.model_validate({"weights_dir": "/nonexistent"})


def test_a_missing_recogniser_is_named(weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(_png(), media_type="image/png")
    config = EasyOCRConfig.model_validate({"weights_dir": weights_dir, "languages": ["de"]})
    with pytest.raises(ConfigInvalid, match=r"lacks latin_g2\.pth"):
        EasyOCREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))


def test_the_whole_path_runs_on_untrained_models_and_yields_a_valid_result(weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(_png(), media_type="image/png")
    config = EasyOCRConfig.model_validate({"weights_dir": weights_dir, "text_threshold": 0.0})
    result = EasyOCREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))
    assert result.engine.startswith("easyocr ")
    [page] = result.pages
    assert (page.width, page.height) == (320, 160)
    for word in (w for block in page.blocks for w in block.words):
        assert 0 <= word.confidence <= 1


def test_lines_split_into_words_with_boxes_in_proportion() -> None:
    found = [([[10, 20], [110, 20], [110, 40], [10, 40]], "ab cdef", 0.8), ([[0, 0], [1, 0], [1, 1], [0, 1]], " ", 0.1)]
    [line] = lines_from_easyocr(found)
    assert [w.text for w in line] == ["ab", "cdef"]
    assert line[0].bbox.x == 10 and line[1].bbox.x == pytest.approx(10 + 3 * 100 / 7)
    assert line[1].bbox.width == pytest.approx(4 * 100 / 7) and line[0].confidence == 0.8


def _png() -> bytes:
    image = Image.new("RGB", (320, 160), "white")
    ImageDraw.Draw(image).text((20, 60), "Invoice 4721", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
