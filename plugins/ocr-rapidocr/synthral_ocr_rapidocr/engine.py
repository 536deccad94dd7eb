"""The ``rapidocr`` engine: PP-OCR detection, angle classification and recognition on ONNX Runtime."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import Field, field_validator

from synthral_sdk import BBox, Context, OCRPage, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, page_from_lines
from synthral_sdk.errors import ConfigInvalid, InputInvalid

__all__ = ["LANGUAGES", "RapidOCRConfig", "RapidOCREngine"]

#: Languages the recognition model in the wheel reads (PP-OCRv5/v6 multilingual: Chinese,
#: Japanese kana and the Latin-script languages), by the codes people use: ISO 639-1,
#: ISO 639-2 (Tesseract's) and PaddleOCR's names.
LANGUAGES: Final = {
    **{code: code for code in ("en", "ch", "de", "fr", "es", "it", "pt", "nl", "da", "sv", "no", "fi", "pl", "cs")},
    **{code: code for code in ("sk", "sl", "hr", "hu", "ro", "tr", "id", "ms", "vi", "ca", "et", "lv", "lt", "la")},
    "eng": "en", "deu": "de", "ger": "de", "german": "de", "fra": "fr", "fre": "fr", "french": "fr",
    "spa": "es", "ita": "it", "por": "pt", "nld": "nl", "dan": "da", "swe": "sv", "nor": "no", "fin": "fi",
    "pol": "pl", "ces": "cs", "slk": "sk", "slv": "sl", "hrv": "hr", "hun": "hu", "ron": "ro", "tur": "tr",
    "ind": "id", "msa": "ms", "vie": "vi", "cat": "ca", "est": "et", "lav": "lv", "lit": "lt", "lat": "la",
    "chi_sim": "ch", "zh": "ch", "chinese": "ch", "chinese_cht": "chinese_cht", "chi_tra": "chinese_cht",
    "ja": "japan", "jpn": "japan", "japan": "japan",
}  # fmt: skip

_log = logging.getLogger("synthral_ocr_rapidocr")


class RapidOCRConfig(DocumentConfig):
    """How the ``rapidocr`` engine reads documents."""

    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        description="Languages on the pages (e.g. ['en', 'de']); the model in the wheel reads Chinese, Japanese "
        "and Latin-script languages together, so this only checks they are covered.",
    )
    text_score: float = Field(default=0.5, ge=0.0, le=1.0, description="Drop lines recognised with a lower score.")
    use_angle_classifier: bool = Field(default=True, description="Turn upside-down text lines before reading them.")
    threads: int = Field(
        default=1,
        ge=1,
        le=16,
        description="ONNX Runtime threads per page; pages run in parallel with 'page_workers', so 1 is usually best.",
    )
    page_workers: int = Field(default=2, ge=1, le=16, description="How many pages are read at the same time.")
    det_max_side: int = Field(
        default=1600,
        ge=480,
        le=6000,
        description="Longest side a page is scaled to for text detection (recognition reads the full-size lines).",
    )
    max_line_ratio: float = Field(
        default=12.0,
        ge=4.0,
        le=64.0,
        description="Lines longer than this many times their height are read in pieces, cut at gaps between words: "
        "the recogniser is slower and less sure on very long inputs.",
    )
    model_dir: Path | None = Field(
        default=None,
        description="A folder of PP-OCR ONNX models (det.onnx, rec.onnx, cls.onnx, optional keys.txt) "
        "to use instead of the models shipped in the wheel.",
    )

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, value: list[str]) -> list[str]:
        return check_languages(value)

    @field_validator("model_dir")
    @classmethod
    def _check_model_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        missing = [name for name in ("det.onnx", "rec.onnx") if not (value / name).is_file()]
        if missing:
            raise ValueError(
                f"{str(value)!r} lacks {', '.join(missing)}; put PP-OCR ONNX models named det.onnx, rec.onnx "
                "(and cls.onnx) there, or leave 'model_dir' unset to use the models shipped with the plugin"
            )
        return value


def check_languages(codes: list[str]) -> list[str]:
    """Map language codes to the model's names; refuse those the shipped model does not read.

    Raises:
        ValueError: A code is not covered.
    """
    unknown = [code for code in codes if code.lower() not in LANGUAGES]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))} not read by the model shipped with the plugin (it reads Chinese, "
            "Japanese and Latin-script languages such as 'en', 'de', 'fr', 'es'); use the ocr-tesseract or "
            "ocr-easyocr engine for other scripts, or set 'model_dir' to a PP-OCR model for that language"
        )
    return list(dict.fromkeys(LANGUAGES[code.lower()] for code in codes))


class RapidOCREngine(PageOCREngine[RapidOCRConfig]):
    """Read printed text fast with PaddleOCR's PP-OCR models on ONNX Runtime; the default engine."""

    name = "rapidocr"
    title = "RapidOCR (PP-OCR on ONNX Runtime)"

    def __init__(self) -> None:
        self._local = threading.local()

    def engine_version(self, config: RapidOCRConfig) -> str:
        """``rapidocr <version>``."""
        del config
        return f"rapidocr {version('rapidocr')}"

    def read_page(
        self, page: PageImage, config: RapidOCRConfig, languages: list[str] | None, context: Context
    ) -> OCRPage:
        """Detect text lines, read them (long ones in pieces), and split lines into words."""
        if languages:
            try:
                check_languages(languages)
            except ValueError as exc:
                raise InputInvalid(f"input field 'languages': {exc}", details={"languages": languages}) from None
        from rapidocr.ch_ppocr_rec import TextRecInput  # noqa: PLC0415 - loaded with the models
        from rapidocr.utils.process_img import get_rotate_crop_image  # noqa: PLC0415 - RapidOCR's own line crop

        context.check()
        models = self._models(config)
        image = np.ascontiguousarray(np.asarray(page.image.convert("RGB"))[:, :, ::-1])  # RapidOCR reads BGR
        detected = models.det(image)
        if detected.boxes is None or len(detected.boxes) == 0:
            return page_from_lines(page.number, page.image.width, page.image.height, [])
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        for quad in detected.boxes:
            crop = get_rotate_crop_image(image, np.array(quad, dtype=np.float32))
            pieces.extend(_split(crop, np.asarray(quad, dtype=np.float64), config.max_line_ratio))
        context.check()
        crops = [crop for crop, _ in pieces]
        if config.use_angle_classifier:
            crops = models.cls(crops).img_list
        read = models.rec(TextRecInput(img=crops, return_word_box=False))
        lines = [
            _words(str(text), float(score), quad)
            for (_, quad), text, score in zip(pieces, read.txts or (), read.scores or (), strict=False)
            if str(text).strip() and float(score) >= config.text_score
        ]
        return page_from_lines(page.number, page.image.width, page.image.height, lines)

    def _models(self, config: RapidOCRConfig) -> _Models:
        """One set of models per thread and settings: RapidOCR's models keep per-call state."""
        key = (config.threads, config.det_max_side, str(config.model_dir))
        cache: dict[tuple[int, int, str], _Models] = self._local.__dict__.setdefault("models", {})
        if key not in cache:
            cache[key] = _build(config)
        return cache[key]


@dataclass(frozen=True)
class _Models:
    det: Any
    cls: Any
    rec: Any


def _build(config: RapidOCRConfig) -> _Models:
    from rapidocr import RapidOCR  # noqa: PLC0415 - the models load on first use, not at plugin start
    from rapidocr.ch_ppocr_cls import TextClassifier  # noqa: PLC0415
    from rapidocr.ch_ppocr_det import TextDetector  # noqa: PLC0415
    from rapidocr.ch_ppocr_rec import TextRecognizer  # noqa: PLC0415

    params: dict[str, Any] = {
        "Global.log_level": "warning",
        "Det.limit_type": "max",
        "Det.limit_side_len": config.det_max_side,
        "EngineConfig.onnxruntime.intra_op_num_threads": config.threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    if config.model_dir is not None:
        params["Det.model_path"] = str(config.model_dir / "det.onnx")
        params["Rec.model_path"] = str(config.model_dir / "rec.onnx")
        if (config.model_dir / "cls.onnx").is_file():
            params["Cls.model_path"] = str(config.model_dir / "cls.onnx")
        if (config.model_dir / "keys.txt").is_file():
            params["Rec.rec_keys_path"] = str(config.model_dir / "keys.txt")
    try:
        # RapidOCR resolves the settings (and the models shipped in its wheel); its three
        # stages are then driven one by one, so long lines can be read in pieces.
        cfg = RapidOCR(params=params).cfg
        for stage in (cfg.Det, cfg.Cls, cfg.Rec):  # as RapidOCR does before it builds a stage
            stage.engine_cfg = cfg.EngineConfig[stage.engine_type.value]
            stage.model_root_dir = cfg.Global.model_root_dir
        cfg.Rec.font_path = cfg.Global.font_path
        return _Models(TextDetector(cfg.Det), TextClassifier(cfg.Cls), TextRecognizer(cfg.Rec))
    except Exception as exc:  # any failure to load a model is a configuration problem
        raise ConfigInvalid(
            f"RapidOCR could not load its models ({exc}); reinstall the plugin, or fix config field 'model_dir'",
            details={"model_dir": str(config.model_dir) if config.model_dir else None},
        ) from exc


def _split(crop: np.ndarray, quad: np.ndarray, max_ratio: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """A line image cut at gaps between words into pieces at most ``max_ratio`` times as long as high.

    Each piece comes with its part of the line's quad (top-left, top-right, bottom-right,
    bottom-left), interpolated along the line.
    """
    height, width = crop.shape[:2]
    if width <= max_ratio * height or height == 0:
        return [(crop, quad)]
    grey = crop.mean(axis=2) if crop.ndim == 3 else crop
    ink = (grey < min(128.0, float(grey.mean()) - 0.5 * float(grey.std()))).any(axis=0)
    limit = int(max_ratio * height)
    cuts, start = [], 0
    while width - start > limit:
        window = ~ink[start + limit // 2 : start + limit]
        gaps = np.flatnonzero(window)
        if len(gaps) == 0:
            break  # no gap between words in reach: read the rest whole
        cut = start + limit // 2 + int(gaps[len(gaps) // 2])
        cuts.append(cut)
        start = cut
    if not cuts:
        return [(crop, quad)]
    edges = [0, *cuts, width]
    pieces = []
    for left, right in itertools.pairwise(edges):
        a, b = left / width, right / width
        top = (quad[0] + (quad[1] - quad[0]) * a, quad[0] + (quad[1] - quad[0]) * b)
        bottom = (quad[3] + (quad[2] - quad[3]) * a, quad[3] + (quad[2] - quad[3]) * b)
        pieces.append((np.ascontiguousarray(crop[:, left:right]), np.array([top[0], top[1], bottom[1], bottom[0]])))
    return pieces


def _words(text: str, score: float, quad: np.ndarray) -> list[OCRWord]:
    """A piece of a line as words, each given the share of the box its characters take."""
    box = _box(quad)
    parts = text.split()
    per_char = box.width / max(len(" ".join(parts)), 1)
    words, offset = [], 0
    confidence = min(max(score, 0.0), 1.0)
    for part in parts:
        x = box.x + offset * per_char
        words.append(
            OCRWord(
                text=part, bbox=BBox(x=x, y=box.y, width=len(part) * per_char, height=box.height), confidence=confidence
            )
        )
        offset += len(part) + 1
    return words


def _box(quad: Any) -> BBox:
    points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    return BBox(x=float(left), y=float(top), width=float(right - left), height=float(bottom - top))
