"""The ``paddleocr`` engine: native PaddleOCR (PP-OCR on PaddlePaddle), models from a local folder."""

from __future__ import annotations

import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml
from pydantic import Field, field_validator

from synthral_sdk import BBox, Context, OCRPage, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, page_from_lines
from synthral_sdk.errors import ConfigInvalid

__all__ = ["MODEL_FOLDERS", "PaddleOCRConfig", "PaddleOCREngine", "lines_from_paddle"]

MODEL_FOLDERS: Final = ("det", "rec")


class PaddleOCRConfig(DocumentConfig):
    """How the ``paddleocr`` engine reads documents."""

    models_dir: Path = Field(
        description="Folder with PaddleOCR inference models in sub-folders det/ (text detection) and rec/ (text "
        "recognition), each holding inference.json (or .pdmodel), inference.pdiparams and inference.yml. "
        "Required: without it the engine is not ready."
    )
    det_box_threshold: float = Field(default=0.6, ge=0, le=1, description="Detection box score threshold.")
    rec_score_threshold: float = Field(default=0.0, ge=0, le=1, description="Drop lines recognised below this.")
    enable_mkldnn: bool = Field(default=True, description="Use oneDNN on the CPU (faster; off for unusual exports).")
    threads: int = Field(default=1, ge=1, le=16, description="CPU threads per page.")

    @field_validator("models_dir")
    @classmethod
    def _check_models(cls, value: Path) -> Path:
        missing = [f"{name}/inference.yml" for name in MODEL_FOLDERS if not (value / name / "inference.yml").is_file()]
        if missing:
            raise ValueError(
                f"{str(value)!r} lacks {', '.join(missing)}; put PaddleOCR inference models in its det/ and rec/ "
                "sub-folders (see the plugin's README), or point 'models_dir' at the folder that has them"
            )
        return value


class PaddleOCREngine(PageOCREngine[PaddleOCRConfig]):
    """Read printed text with native PaddleOCR: fast, many languages (by the recognition model)."""

    name = "paddleocr"
    title = "PaddleOCR"

    def __init__(self) -> None:
        self._pipelines: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def engine_version(self, config: PaddleOCRConfig) -> str:
        """``paddleocr <version>``."""
        del config
        return f"paddleocr {version('paddleocr')}"

    def read_page(
        self, page: PageImage, config: PaddleOCRConfig, languages: list[str] | None, context: Context
    ) -> OCRPage:
        """Detect and recognise text lines, then split each into words."""
        del languages  # the recognition model decides the language
        pipeline = self._pipeline(config)
        context.check()
        image = np.asarray(page.image.convert("RGB"))[:, :, ::-1]  # PaddleOCR reads BGR arrays
        [result] = pipeline.predict(np.ascontiguousarray(image))
        return page_from_lines(page.number, page.image.width, page.image.height, lines_from_paddle(result))

    def _pipeline(self, config: PaddleOCRConfig) -> Any:
        key = (str(config.models_dir), str(config.det_box_threshold), str(config.enable_mkldnn), str(config.threads))
        with self._lock:
            if key not in self._pipelines:
                self._pipelines[key] = build_pipeline(config)
            return self._pipelines[key]


def _model_name(folder: Path) -> str:
    try:
        name = yaml.safe_load((folder / "inference.yml").read_text())["Global"]["model_name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigInvalid(
            f"{folder / 'inference.yml'} does not name its model (Global.model_name): {exc}; use the inference.yml "
            "that came with the model",
            details={"models_dir": str(folder.parent)},
        ) from None
    return str(name)


def build_pipeline(config: PaddleOCRConfig) -> Any:
    """PaddleOCR's pipeline over the configured folders (no document preprocessing: the SDK did it).

    Raises:
        ConfigInvalid: A model cannot be loaded.
    """
    from paddleocr import PaddleOCR  # noqa: PLC0415 - PaddlePaddle loads with the models

    det, rec = config.models_dir / "det", config.models_dir / "rec"
    try:
        return PaddleOCR(
            text_detection_model_dir=str(det),
            text_detection_model_name=_model_name(det),
            text_recognition_model_dir=str(rec),
            text_recognition_model_name=_model_name(rec),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            text_det_box_thresh=config.det_box_threshold,
            text_rec_score_thresh=config.rec_score_threshold,
            device="cpu",
            enable_mkldnn=config.enable_mkldnn,
            cpu_threads=config.threads,
        )
    except ConfigInvalid:
        raise
    except Exception as exc:  # PaddleX raises bare Exceptions for unusable model folders
        raise ConfigInvalid(
            f"PaddleOCR could not load the models in {config.models_dir} ({str(exc)[:300]}); check config field "
            "'models_dir'",
            details={"models_dir": str(config.models_dir)},
        ) from exc


def lines_from_paddle(result: Any) -> list[list[OCRWord]]:
    """PaddleOCR's ``rec_texts``/``rec_scores``/``rec_polys`` as lines of words (boxes split by characters)."""
    lines: list[list[OCRWord]] = []
    for text, score, poly in zip(result["rec_texts"], result["rec_scores"], result["rec_polys"], strict=False):
        parts = str(text).split()
        if not parts:
            continue
        points = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        per_char = (right - left) / max(len(" ".join(parts)), 1)
        words, offset = [], 0
        for part in parts:
            box = BBox(x=float(left + offset * per_char), y=float(top), width=float(len(part) * per_char),
                       height=float(bottom - top))  # fmt: skip
            words.append(OCRWord(text=part, bbox=box, confidence=min(max(float(score), 0.0), 1.0)))
            offset += len(part) + 1
        lines.append(words)
    return lines
