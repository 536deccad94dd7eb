"""The easyocr engine on the real EasyOCR library: weights from a folder, the whole path, the mapping."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TORCHVISION_MISMATCH, needs_models
from PIL import Image, ImageDraw
from synthral_ocr_easyocr import DETECTOR_FILE, EasyOCRConfig, EasyOCREngine, lines_from_easyocr

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.errors import ConfigInvalid, PluginLoadError
from synthral_sdk.testing import PluginConformance, RunnerClient


class TestConformance(PluginConformance):
    dist = "synthral-ocr-easyocr"


def test_the_torchvision_check_agrees_with_importing_torchvision() -> None:
    imported = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True, check=False)
    assert (imported.returncode == 0) == (TORCHVISION_MISMATCH is None), imported.stderr[-2000:]


@pytest.mark.skipif(TORCHVISION_MISMATCH is None, reason="torchvision's operators load with this torch")
def test_a_torchvision_built_for_another_torch_is_refused_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / DETECTOR_FILE).touch()
    with RunnerClient("synthral-ocr-easyocr") as runner:  # the plugin starts and describes itself all the same
        ref = BlobStore(runner.blob_root).put(_png(), media_type="image/png")
        with pytest.raises(PluginLoadError) as refused:
            runner.invoke(
                "easyocr", {"document": ref.to_json()}, operation="recognize", config={"weights_dir": str(tmp_path)}
            )
    assert re.fullmatch(
        r"torchvision \S+'s compiled operators do not load with torch \S+ \(torchvision/_C\.\w+ .+\): install the "
        r"torchvision built for the same torch, e\.g\. from PyTorch's CPU package index, into the plugin's venv",
        refused.value.message,
    )
    assert refused.value.message == TORCHVISION_MISMATCH and not refused.value.retryable


def test_weights_dir_is_required_and_checked() -> None:
    with pytest.raises(ValueError, match="weights_dir"):
        EasyOCRConfig.model_validate({})
    with pytest.raises(ValueError, match=r"lacks craft_mlt_25k\.pth"):
        EasyOCRConfig.model_validate({"weights_dir": "/nonexistent"})


@needs_models
def test_a_missing_recogniser_is_named(weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(_png(), media_type="image/png")
    config = EasyOCRConfig.model_validate({"weights_dir": weights_dir, "languages": ["de"]})
    with pytest.raises(ConfigInvalid, match=r"lacks latin_g2\.pth"):
        EasyOCREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))


@needs_models
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
