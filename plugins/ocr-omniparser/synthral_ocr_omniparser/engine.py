"""The ``omniparser`` engine: screens and forms as structured elements, OmniParser's way.

OmniParser finds the interactable elements of a screenshot or form (icons, buttons, fields)
with a YOLOv8 detector trained for it, reads the text with OCR, and drops elements that
merely repeat text. Here the detector's weights come from ``weights_dir``
(``icon_detect/model.pt``, OmniParser's layout), text comes from PP-OCR on ONNX Runtime
(RapidOCR, models in its wheel), and every element becomes a block: text as ``text``,
detected elements as ``figure`` with their detection score. Icon captions (OmniParser's
Florence-2 captioner) are not produced.
"""

from __future__ import annotations

import os
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import Field, field_validator

from synthral_sdk import BBox, Context, OCRBlock, OCRLine, OCRPage, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, torchvision_mismatch, union
from synthral_sdk.errors import ConfigInvalid, PluginLoadError

__all__ = ["DETECTOR", "OmniParserConfig", "OmniParserEngine", "elements_from_detections"]

DETECTOR: Final = Path("icon_detect") / "model.pt"

# Ultralytics must not look for updates or fonts on the internet, nor write into a home it may not have.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "synthral-ultralytics"))


class OmniParserConfig(DocumentConfig):
    """How the ``omniparser`` engine parses screens and forms."""

    weights_dir: Path = Field(
        description="OmniParser's weights folder: icon_detect/model.pt (its YOLOv8 element detector). Required: "
        "without it the engine is not ready."
    )
    box_threshold: float = Field(default=0.05, ge=0, le=1, description="Keep detected elements scoring at least this.")
    iou_threshold: float = Field(default=0.7, ge=0, le=1, description="Overlap above which an element repeats text.")
    image_size: int = Field(default=640, ge=320, le=1920, description="Detector input size.")
    deskew: bool = Field(default=False, description="Screens are not scanned at a slant.")
    detect_rotation: bool = Field(default=False, description="Screens are upright.")

    @field_validator("weights_dir")
    @classmethod
    def _check_weights(cls, value: Path) -> Path:
        if not (value / DETECTOR).is_file():
            raise ValueError(
                f"{str(value)!r} lacks {DETECTOR}; put OmniParser's weights there (see the plugin's README), or point "
                "'weights_dir' at the folder that has them"
            )
        return value


class OmniParserEngine(PageOCREngine[OmniParserConfig]):
    """Parse screenshots and forms into text and interactable elements, with boxes."""

    name = "omniparser"
    title = "OmniParser (screens and forms as structured JSON)"

    def __init__(self) -> None:
        self._detectors: dict[str, Any] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    def engine_version(self, config: OmniParserConfig) -> str:
        """``omniparser (ultralytics <version>)``."""
        del config
        return f"omniparser (ultralytics {version('ultralytics')}, rapidocr {version('rapidocr')})"

    def read_page(
        self, page: PageImage, config: OmniParserConfig, languages: list[str] | None, context: Context
    ) -> OCRPage:
        """Read the text, detect the elements, and list both in reading order."""
        del languages
        detector = self._detector(config)
        image = np.asarray(page.image.convert("RGB"))
        text = self._ocr()(image, return_word_box=True)
        context.check()
        with self._lock:  # one model object, not safe to call from two threads
            found = detector.predict(
                image[:, :, ::-1], conf=config.box_threshold, imgsz=config.image_size, verbose=False, device="cpu"
            )
        return elements_from_detections(page, text, found[0], config.iou_threshold)

    def _detector(self, config: OmniParserConfig) -> Any:
        key = str(config.weights_dir)
        with self._lock:
            if key not in self._detectors:
                if (mismatch := torchvision_mismatch()) is not None:
                    raise PluginLoadError(mismatch, details={"dependency": "torchvision"})
                from ultralytics import YOLO  # noqa: PLC0415 - torch loads with the model

                try:
                    self._detectors[key] = YOLO(str(config.weights_dir / DETECTOR))
                except Exception as exc:  # ultralytics raises many kinds for a file it cannot use
                    raise ConfigInvalid(
                        f"{config.weights_dir / DETECTOR} is not a YOLO detector ultralytics can load ({exc}); "
                        "use OmniParser's icon_detect/model.pt",
                        details={"weights_dir": str(config.weights_dir)},
                    ) from exc
            return self._detectors[key]

    def _ocr(self) -> Any:
        engine = getattr(self._local, "ocr", None)
        if engine is None:
            from rapidocr import RapidOCR  # noqa: PLC0415

            engine = RapidOCR(params={"Global.log_level": "warning"})
            self._local.ocr = engine
        return engine


def _box(points: Any) -> BBox:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    (left, top), (right, bottom) = array.min(axis=0), array.max(axis=0)
    return BBox(x=float(left), y=float(top), width=float(right - left), height=float(bottom - top))


def _iou(a: BBox, b: BBox) -> float:
    left, top = max(a.x, b.x), max(a.y, b.y)
    right, bottom = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(right - left, 0.0) * max(bottom - top, 0.0)
    smaller = min(a.width * a.height, b.width * b.height)
    return inter / smaller if smaller > 0 else 0.0


def elements_from_detections(page: PageImage, text: Any, detections: Any, iou_threshold: float) -> OCRPage:
    """RapidOCR's text lines and an ultralytics ``Results`` as one page of elements in reading order."""
    blocks: list[OCRBlock] = []
    for line_text, score, quad, words in zip(
        text.txts or (), text.scores or (), text.boxes if text.boxes is not None else (), text.word_results or (),
        strict=False,
    ):  # fmt: skip
        parts = [
            OCRWord(text=str(w[0]).strip(), bbox=_box(w[2]), confidence=min(max(float(w[1]), 0.0), 1.0))
            for w in words
            if str(w[0]).strip()
        ] or [OCRWord(text=str(line_text).strip(), bbox=_box(quad), confidence=min(max(float(score), 0.0), 1.0))]
        line = OCRLine(
            text=" ".join(w.text for w in parts),
            bbox=union([w.bbox for w in parts]),
            confidence=sum(w.confidence for w in parts) / len(parts),
            words=parts,
        )
        blocks.append(
            OCRBlock(text=line.text, bbox=line.bbox, confidence=line.confidence, words=parts, lines=[line], kind="text")
        )
    boxes = detections.boxes
    for xyxy, confidence in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), strict=True):
        left, top, right, bottom = xyxy
        box = BBox(x=left, y=top, width=max(right - left, 0.0), height=max(bottom - top, 0.0))
        if any(_iou(box, block.bbox) > iou_threshold for block in blocks):
            continue  # an element that is only a piece of text already listed
        blocks.append(OCRBlock(text="", bbox=box, confidence=min(max(float(confidence), 0.0), 1.0), kind="figure"))
    blocks.sort(key=lambda block: (round(block.bbox.y / 10), block.bbox.x))
    ordered = [block.model_copy(update={"order": index}) for index, block in enumerate(blocks)]
    return OCRPage(
        number=page.number,
        width=page.image.width,
        height=page.image.height,
        text="\n\n".join(block.text for block in ordered if block.text),
        blocks=ordered,
    )
