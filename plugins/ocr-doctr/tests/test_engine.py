"""The doctr engine on the real docTR library: weights from a folder, the whole path, the mapping."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ARCHS, TORCHVISION_MISMATCH, needs_models
from PIL import Image, ImageDraw
from synthral_ocr_doctr import DocTRConfig, DocTREngine, page_from_doctr

from synthral_sdk import BlobStore, Context, OCRRequest
from synthral_sdk.errors import ConfigInvalid, PluginLoadError
from synthral_sdk.testing import PluginConformance, RunnerClient


class TestConformance(PluginConformance):
    dist = "synthral-ocr-doctr"


def test_the_torchvision_check_agrees_with_importing_torchvision() -> None:
    imported = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True, check=False)
    assert (imported.returncode == 0) == (TORCHVISION_MISMATCH is None), imported.stderr[-2000:]


@pytest.mark.skipif(TORCHVISION_MISMATCH is None, reason="torchvision's operators load with this torch")
def test_a_torchvision_built_for_another_torch_is_refused_naming_the_fix(tmp_path: Path) -> None:
    for name in ("det.pt", "reco.pt"):
        (tmp_path / name).touch()
    with RunnerClient("synthral-ocr-doctr") as runner:  # the plugin starts and describes itself all the same
        ref = BlobStore(runner.blob_root).put(_png(), media_type="image/png")
        with pytest.raises(PluginLoadError) as refused:
            runner.invoke(
                "doctr", {"document": ref.to_json()}, operation="recognize", config={"weights_dir": str(tmp_path)}
            )
    assert re.fullmatch(
        r"torchvision \S+'s compiled operators do not load with torch \S+ \(torchvision/_C\.\w+ .+\): install the "
        r"torchvision built for the same torch, e\.g\. from PyTorch's CPU package index, into the plugin's venv",
        refused.value.message,
    )
    assert refused.value.message == TORCHVISION_MISMATCH and not refused.value.retryable


def test_weights_dir_is_required_and_checked() -> None:
    with pytest.raises(ValueError, match="weights_dir"):
        DocTRConfig.model_validate({})
    with pytest.raises(ValueError, match=r"lacks det\.pt, reco\.pt; put docTR weights there"):
        DocTRConfig.model_validate({"weights_dir": "/nonexistent"})


@needs_models
def test_weights_of_another_architecture_are_refused_by_name(weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(_png(), media_type="image/png")
    config = DocTRConfig.model_validate({"weights_dir": weights_dir, **ARCHS, "det_arch": "fast_tiny"})
    with pytest.raises(ConfigInvalid, match="does not fit the architecture in config field 'det_arch'"):
        DocTREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))


@needs_models
def test_the_whole_path_runs_on_untrained_models_and_yields_a_valid_result(weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(_png(), media_type="image/png")
    config = DocTRConfig.model_validate({"weights_dir": weights_dir, **ARCHS})
    result = DocTREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))
    assert result.engine.startswith("doctr ")
    [page] = result.pages
    assert (page.width, page.height, page.source) == (320, 160, "ocr")
    for word in (w for block in page.blocks for w in block.words):
        assert 0 <= word.bbox.x <= 320 and 0 <= word.bbox.y <= 160 and 0 <= word.confidence <= 1


@needs_models
def test_layout_and_table_models_load_from_the_folder_and_run(table_weights_dir: Path, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(_png(), media_type="image/png")
    config = DocTRConfig.model_validate({"weights_dir": table_weights_dir, **ARCHS})
    result = DocTREngine().recognize(OCRRequest(document=ref), config, Context(blobs=blobs))
    assert len(result.pages) == 1


@needs_models
def test_doctrs_document_tree_maps_to_blocks_lines_words_kinds_and_tables() -> None:
    from doctr.io import Block, Line, Page, Word  # noqa: PLC0415 - docTR imports torchvision
    from doctr.io.elements import LayoutElement, Table, TableCell  # noqa: PLC0415 - as above

    words = [
        Word("Item", 0.9, ((0.1, 0.1), (0.2, 0.15)), 0.9, {"value": 0, "confidence": None}),
        Word("Total", 0.8, ((0.25, 0.1), (0.4, 0.15)), 0.9, {"value": 0, "confidence": None}),
    ]
    title = Block(lines=[Line(words)])
    cells = [
        TableCell("Apple", 0.95, ((0.1, 0.5), (0.3, 0.6)), 0, 0, 0, 0),
        TableCell("3", 0.9, ((0.3, 0.5), (0.5, 0.6)), 0, 0, 1, 2),
    ]
    table = Table(cells, 1, 3, ((0.1, 0.5), (0.7, 0.6)), 0.7)
    layout = [LayoutElement("Title", 0.9, ((0.0, 0.0), (1.0, 0.3)))]
    native = Page(np.zeros((200, 1000, 3), dtype=np.uint8), [title], 0, (200, 1000), layout=layout, tables=[table])
    page = page_from_doctr(native, 3)
    assert (page.number, page.width, page.height) == (3, 1000, 200)
    [block] = page.blocks
    assert (block.text, block.kind, block.order) == ("Item Total", "title", 0)
    assert block.lines[0].words[1].bbox.model_dump() == pytest.approx({"x": 250, "y": 20, "width": 150, "height": 10})
    [mapped] = page.tables
    assert (mapped.rows, mapped.columns, mapped.confidence) == (1, 3, 0.7)
    assert [(c.row, c.column, c.column_span, c.text) for c in mapped.cells] == [(0, 0, 1, "Apple"), (0, 1, 2, "3")]


def _png() -> bytes:
    image = Image.new("RGB", (320, 160), "white")
    ImageDraw.Draw(image).text((20, 60), "Invoice 4721", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
