"""The omniparser engine on real ultralytics and RapidOCR: detector from a folder, the whole path, the mapping."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TORCHVISION_MISMATCH, needs_models
from PIL import Image, ImageDraw, ImageFont
from synthral_ocr_omniparser import DETECTOR, OmniParserConfig, OmniParserEngine, elements_from_detections

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.documents import PageImage
from synthral_sdk.errors import ConfigInvalid, PluginLoadError
from synthral_sdk.testing import PluginConformance, RunnerClient


class TestConformance(PluginConformance):
    dist = "synthral-ocr-omniparser"


def screen() -> Image.Image:
    image = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "Sign in to continue", font=ImageFont.load_default(size=32), fill="black")
    draw.rectangle((40, 200, 200, 260), outline="black", width=4)
    return image


def test_the_torchvision_check_agrees_with_importing_torchvision() -> None:
    imported = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True, check=False)
    assert (imported.returncode == 0) == (TORCHVISION_MISMATCH is None), imported.stderr[-2000:]


@pytest.mark.skipif(TORCHVISION_MISMATCH is None, reason="torchvision's operators load with this torch")
def test_a_torchvision_built_for_another_torch_is_refused_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / DETECTOR).parent.mkdir()
    (tmp_path / DETECTOR).touch()
    with RunnerClient("synthral-ocr-omniparser") as runner:  # the plugin starts and describes itself all the same
        out = io.BytesIO()
        screen().save(out, format="PNG")
        ref = BlobStore(runner.blob_root).put(out.getvalue(), media_type="image/png")
        with pytest.raises(PluginLoadError) as refused:
            runner.invoke(
                "omniparser", {"document": ref.to_json()}, operation="recognize", config={"weights_dir": str(tmp_path)}
            )
    assert re.fullmatch(
        r"torchvision \S+'s compiled operators do not load with torch \S+ \(torchvision/_C\.\w+ .+\): install the "
        r"torchvision built for the same torch, e\.g\. from PyTorch's CPU package index, into the plugin's venv",
        refused.value.message,
    )
    assert refused.value.message == TORCHVISION_MISMATCH and not refused.value.retryable


def test_weights_dir_is_required_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weights_dir"):
        OmniParserConfig.model_validate({})
    with pytest.raises(ValueError, match=r"lacks icon_detect/model\.pt"):
        OmniParserConfig.model_validate({"weights_dir": tmp_path})


@needs_models
def test_a_file_that_is_no_detector_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "icon_detect").mkdir()
    (tmp_path / "icon_detect" / "model.pt").write_bytes(b"not a model")
    blobs = BlobStore(tmp_path / "blobs")
    out = io.BytesIO()
    screen().save(out, format="PNG")
    ref = blobs.put(out.getvalue(), media_type="image/png")
    config = OmniParserConfig.model_validate({"weights_dir": tmp_path})
    with pytest.raises(ConfigInvalid, match="is not a YOLO detector"):
        OmniParserEngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))


@needs_models
def test_the_whole_path_reads_text_and_lists_elements(weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    out = io.BytesIO()
    screen().save(out, format="PNG")
    ref = blobs.put(out.getvalue(), media_type="image/png")
    config = OmniParserConfig.model_validate({"weights_dir": weights_dir, "box_threshold": 0.0})
    result = OmniParserEngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))
    [page] = result.pages
    assert "Sign in to continue" in page.text
    kinds = {block.kind for block in page.blocks}
    assert kinds <= {"text", "figure"} and "text" in kinds
    assert [block.order for block in page.blocks] == list(range(len(page.blocks)))


@needs_models
def test_detections_that_repeat_text_are_dropped_and_the_rest_kept_in_reading_order() -> None:
    import torch  # noqa: PLC0415 - only where torchvision's operators load (needs_models)
    from ultralytics.engine.results import Results  # noqa: PLC0415 - as above

    class Text:
        txts = ("Sign in",)
        scores = (0.99,)
        boxes = np.array([[[40, 40], [160, 40], [160, 70], [40, 70]]])
        word_results = (
            (
                ("Sign", 0.99, [[40, 40], [90, 40], [90, 70], [40, 70]]),
                ("in", 0.98, [[100, 40], [160, 40], [160, 70], [100, 70]]),
            ),
        )

    boxes = torch.tensor([[42.0, 41.0, 158.0, 69.0, 0.9, 0.0], [40.0, 200.0, 200.0, 260.0, 0.6, 0.0]])
    detections = Results(np.zeros((360, 640, 3), dtype=np.uint8), path="screen", names={0: "icon"}, boxes=boxes)
    page = elements_from_detections(PageImage(number=1, image=Image.new("L", (640, 360))), Text(), detections, 0.7)
    assert [(b.kind, b.text) for b in page.blocks] == [("text", "Sign in"), ("figure", "")]
    assert page.blocks[1].bbox.model_dump() == {"x": 40.0, "y": 200.0, "width": 160.0, "height": 60.0}
    assert page.blocks[1].confidence == pytest.approx(0.6)
