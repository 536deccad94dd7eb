"""The ``doctr`` engine: docTR's detection, recognition, layout and table-structure models, weights from a folder.

Nothing is downloaded: every model is built with ``pretrained=False`` and its weights are
loaded from ``weights_dir`` (``det.pt``, ``reco.pt``; ``layout.pt`` and ``table.pt`` for
layout and tables). docTR's native output (pages of blocks of lines of words with relative
geometry, layout regions, tables as grids of cells) is mapped onto the SDK's result.
"""

from __future__ import annotations

import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import Field, field_validator

from synthral_sdk import BBox, Context, OCRBlock, OCRLine, OCRPage, OCRTable, OCRTableCell, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, torchvision_mismatch, union
from synthral_sdk.errors import ConfigInvalid, PluginLoadError

__all__ = ["WEIGHT_FILES", "DocTRConfig", "DocTREngine", "page_from_doctr"]

WEIGHT_FILES: Final = {"det": "det.pt", "reco": "reco.pt", "layout": "layout.pt", "table": "table.pt"}
_KINDS: Final = {"title": "title", "table": "table", "picture": "figure", "figure": "figure", "list-item": "list"}


class DocTRConfig(DocumentConfig):
    """How the ``doctr`` engine reads documents."""

    weights_dir: Path = Field(
        description="Folder with docTR PyTorch weights: det.pt and reco.pt (state dicts of det_arch and reco_arch), "
        "and layout.pt and table.pt for layout and tables. Required: without it the engine is not ready."
    )
    det_arch: str = Field(default="fast_base", description="docTR detection architecture of det.pt.")
    reco_arch: str = Field(default="crnn_vgg16_bn", description="docTR recognition architecture of reco.pt.")
    layout_arch: str = Field(default="lw_detr_s", description="docTR layout architecture of layout.pt.")
    detect_tables: bool = Field(default=True, description="Find tables and their cells (needs layout.pt, table.pt).")
    threads: int = Field(default=1, ge=1, le=16, description="PyTorch threads per page.")

    @field_validator("weights_dir")
    @classmethod
    def _check_weights(cls, value: Path) -> Path:
        missing = [name for name in (WEIGHT_FILES["det"], WEIGHT_FILES["reco"]) if not (value / name).is_file()]
        if missing:
            raise ValueError(
                f"{str(value)!r} lacks {', '.join(missing)}; put docTR weights there (see the plugin's README for "
                "where to get them), or point 'weights_dir' at the folder that has them"
            )
        return value


class DocTREngine(PageOCREngine[DocTRConfig]):
    """Read documents with docTR: text, layout regions and tables."""

    name = "doctr"
    title = "docTR (tables and layout)"

    def __init__(self) -> None:
        self._predictors: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def engine_version(self, config: DocTRConfig) -> str:
        """``doctr <version>``."""
        del config
        return f"doctr {version('python-doctr')}"

    def read_page(self, page: PageImage, config: DocTRConfig, languages: list[str] | None, context: Context) -> OCRPage:
        """Run docTR on one page and map its document tree."""
        del languages  # docTR's recognisers are trained per vocabulary, not told a language
        predictor = self._predictor(config)
        context.check()
        import torch  # noqa: PLC0415 - loaded with the models, not at plugin start

        torch.set_num_threads(config.threads)
        with torch.inference_mode():
            document = predictor([np.asarray(page.image.convert("RGB"))])
        return page_from_doctr(document.pages[0], page.number)

    def _predictor(self, config: DocTRConfig) -> Any:
        key = (
            str(config.weights_dir),
            config.det_arch,
            config.reco_arch,
            config.layout_arch,
            str(config.detect_tables),
        )
        with self._lock:
            if key not in self._predictors:
                self._predictors[key] = build_predictor(config)
            return self._predictors[key]


def _load(model: Any, path: Path, setting: str) -> Any:
    import torch  # noqa: PLC0415

    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as exc:
        raise ConfigInvalid(
            f"{path} does not fit the architecture in config field '{setting}' ({str(exc)[:300]}); set '{setting}' "
            "to the architecture the weights were trained with",
            details={"weights": str(path), setting: str(getattr(model, "cfg", {}).get("arch", ""))},
        ) from None
    return model.eval()


def build_predictor(config: DocTRConfig) -> Any:
    """DocTR's OCR predictor from the weights folder (models built untrained, then loaded).

    Raises:
        PluginLoadError: torchvision's compiled operators do not load with the installed torch.
        ConfigInvalid: An architecture is unknown or its weights do not fit it.
    """
    if (mismatch := torchvision_mismatch()) is not None:
        raise PluginLoadError(mismatch, details={"dependency": "torchvision"})
    from doctr import models  # noqa: PLC0415
    from doctr.models.predictor import OCRPredictor  # noqa: PLC0415

    def arch(name: str, setting: str, **kwargs: Any) -> Any:
        factory = getattr(models, name, None)
        if factory is None:
            raise ConfigInvalid(f"config field '{setting}' is {name!r}, which docTR does not have")
        return factory(pretrained=False, **kwargs)

    weights = config.weights_dir
    det = _load(arch(config.det_arch, "det_arch", pretrained_backbone=False), weights / WEIGHT_FILES["det"], "det_arch")
    reco = _load(
        arch(config.reco_arch, "reco_arch", pretrained_backbone=False), weights / WEIGHT_FILES["reco"], "reco_arch"
    )
    layout = table = None
    if (
        config.detect_tables
        and (weights / WEIGHT_FILES["layout"]).is_file()
        and (weights / WEIGHT_FILES["table"]).is_file()
    ):
        layout = models.layout_predictor(
            _load(arch(config.layout_arch, "layout_arch"), weights / WEIGHT_FILES["layout"], "layout_arch"),
            pretrained=False,
        )
        table = models.table_predictor(
            _load(
                models.tablecenternet(pretrained=False, pretrained_backbone=False),
                weights / WEIGHT_FILES["table"],
                "detect_tables",
            ),
            pretrained=False,
        )
    return OCRPredictor(
        models.detection_predictor(det, pretrained=False),
        models.recognition_predictor(reco, pretrained=False),
        layout_predictor=layout,
        table_predictor=table,
    )


def _box(geometry: Any, width: int, height: int) -> BBox:
    points = np.asarray(geometry, dtype=np.float64).reshape(-1, 2)
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    left, right = max(left, 0.0) * width, min(right, 1.0) * width
    top, bottom = max(top, 0.0) * height, min(bottom, 1.0) * height
    return BBox(x=left, y=top, width=max(right - left, 0.0), height=max(bottom - top, 0.0))


def _confidence(value: Any) -> float:
    return min(max(float(value), 0.0), 1.0)


def page_from_doctr(page: Any, number: int) -> OCRPage:
    """DocTR's ``Page`` (blocks → lines → words, layout, tables; relative coordinates) as an SDK page."""
    height, width = page.dimensions
    blocks: list[OCRBlock] = []
    layout = list(getattr(page, "layout", None) or [])
    for block in page.blocks:
        lines = []
        for line in block.lines:
            words = [
                OCRWord(
                    text=word.value, bbox=_box(word.geometry, width, height), confidence=_confidence(word.confidence)
                )
                for word in line.words
                if word.value.strip()
            ]
            if words:
                lines.append(
                    OCRLine(
                        text=" ".join(word.text for word in words),
                        bbox=union([word.bbox for word in words]),
                        confidence=sum(word.confidence for word in words) / len(words),
                        words=words,
                    )
                )
        if not lines:
            continue
        words = [word for line in lines for word in line.words]
        bbox = union([line.bbox for line in lines])
        blocks.append(
            OCRBlock(
                text="\n".join(line.text for line in lines),
                bbox=bbox,
                confidence=sum(word.confidence for word in words) / len(words),
                words=words,
                lines=lines,
                order=len(blocks),
                kind=_kind_of(bbox, layout, width, height),  # type: ignore[arg-type]
            )
        )
    tables = [_table(table, width, height) for table in getattr(page, "tables", None) or []]
    return OCRPage(
        number=number,
        width=width,
        height=height,
        text="\n\n".join(block.text for block in blocks),
        blocks=blocks,
        tables=tables,
    )


def _kind_of(bbox: BBox, layout: list[Any], width: int, height: int) -> str:
    """The layout region type the block's centre falls in ('text' when none)."""
    x, y = bbox.x + bbox.width / 2, bbox.y + bbox.height / 2
    for region in layout:
        box = _box(region.geometry, width, height)
        if box.x <= x <= box.x + box.width and box.y <= y <= box.y + box.height:
            return _KINDS.get(str(region.type).lower(), "text")
    return "text"


def _table(table: Any, width: int, height: int) -> OCRTable:
    cells = [
        OCRTableCell(
            row=int(cell.row_start),
            column=int(cell.col_start),
            row_span=int(cell.row_end) - int(cell.row_start) + 1,
            column_span=int(cell.col_end) - int(cell.col_start) + 1,
            text=str(cell.value),
            bbox=_box(cell.geometry, width, height),
        )
        for cell in table.cells
    ]
    return OCRTable(
        bbox=_box(table.geometry, width, height),
        rows=int(table.num_rows),
        columns=int(table.num_cols),
        cells=cells,
        confidence=_confidence(table.confidence),
    )
