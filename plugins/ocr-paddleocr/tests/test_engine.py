"""The paddleocr engine on the real PaddleOCR and PaddlePaddle: models from a folder, the whole path, the mapping."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from synthral_ocr_paddleocr import PaddleOCRConfig, PaddleOCREngine, lines_from_paddle

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.testing import PluginConformance


class TestConformance(PluginConformance):
    dist = "synthral-ocr-paddleocr"


def test_models_dir_is_required_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="models_dir"):
        PaddleOCRConfig.model_validate({})
    with pytest.raises(ValueError, match=r"lacks det/inference\.yml, rec/inference\.yml"):
        PaddleOCRConfig.model_validate({"models_dir": tmp_path})


def test_the_whole_path_runs_on_untrained_pp_ocr_models(models_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    image = Image.new("RGB", (320, 160), "white")
    ImageDraw.Draw(image).rectangle((20, 60, 200, 90), fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    ref = blobs.put(out.getvalue(), media_type="image/png")
    # Exports made by paddle.jit.save here carry an attribute oneDNN's kernels do not take.
    config = PaddleOCRConfig.model_validate(
        {"models_dir": models_dir, "det_box_threshold": 0.0, "enable_mkldnn": False, "deskew": False}
    )
    result = PaddleOCREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))
    assert result.engine.startswith("paddleocr ")
    [page] = result.pages
    assert (page.width, page.height) == (320, 160)
    words = [w for block in page.blocks for w in block.words]
    assert words, "untrained models still find and read something in a black bar"
    for word in words:
        assert 0 <= word.bbox.x <= 320 and 0 <= word.bbox.y <= 160 and 0 <= word.confidence <= 1


def test_paddles_lines_map_to_words_with_boxes() -> None:
    poly = np.array([[10, 20], [110, 20], [110, 40], [10, 40]])
    [line] = lines_from_paddle({"rec_texts": ["ab cdef", ""], "rec_scores": [0.9, 0.1], "rec_polys": [poly, poly]})
    assert [(w.text, w.bbox.x, w.confidence) for w in line] == [
        ("ab", 10, 0.9),
        ("cdef", pytest.approx(10 + 300 / 7), 0.9),
    ]
