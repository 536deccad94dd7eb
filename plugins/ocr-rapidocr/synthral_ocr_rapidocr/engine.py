"""The ``rapidocr`` engine: PP-OCR detection, angle classification and recognition on ONNX Runtime."""

from __future__ import annotations

import logging
import threading
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
    max_side: int = Field(
        default=2400,
        ge=640,
        le=8000,
        description="Longest side a page is scaled down to before detection; larger reads smaller print, slower.",
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
        """Detect text lines, read each, and split lines into words with their boxes."""
        if languages:
            try:
                check_languages(languages)
            except ValueError as exc:
                raise InputInvalid(f"input field 'languages': {exc}", details={"languages": languages}) from None
        context.check()
        engine = self._engine(config)
        image = np.asarray(page.image.convert("RGB"))
        output = engine(image, return_word_box=True, use_cls=config.use_angle_classifier, text_score=config.text_score)
        lines = _lines(output)
        return page_from_lines(page.number, page.image.width, page.image.height, lines)

    def _engine(self, config: RapidOCRConfig) -> Any:
        """One RapidOCR per thread and settings: the pipeline keeps per-call state on itself."""
        key = (config.threads, config.max_side, str(config.model_dir))
        cache: dict[tuple[int, int, str], Any] = self._local.__dict__.setdefault("engines", {})
        if key not in cache:
            cache[key] = _build(config)
        return cache[key]


def _build(config: RapidOCRConfig) -> Any:
    from rapidocr import RapidOCR  # noqa: PLC0415 - the models load on first use, not at plugin start

    params: dict[str, Any] = {
        "Global.log_level": "warning",
        "Global.max_side_len": config.max_side,
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
        return RapidOCR(params=params)
    except Exception as exc:  # any failure to load a model is a configuration problem
        raise ConfigInvalid(
            f"RapidOCR could not load its models ({exc}); reinstall the plugin, or fix config field 'model_dir'",
            details={"model_dir": str(config.model_dir) if config.model_dir else None},
        ) from exc


def _box(quad: Any) -> BBox:
    points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    return BBox(x=float(left), y=float(top), width=float(right - left), height=float(bottom - top))


def _lines(output: Any) -> list[list[OCRWord]]:
    """RapidOCR's lines (text, score, quad) and their word boxes as lines of words."""
    if output.txts is None:
        return []
    word_results = output.word_results or [()] * len(output.txts)
    lines: list[list[OCRWord]] = []
    for text, score, quad, words in zip(output.txts, output.scores, output.boxes, word_results, strict=False):
        parts = [
            OCRWord(text=str(word[0]).strip(), bbox=_box(word[2]), confidence=min(max(float(word[1]), 0.0), 1.0))
            for word in words
            if str(word[0]).strip()
        ]
        if not parts and str(text).strip():
            parts = [OCRWord(text=str(text).strip(), bbox=_box(quad), confidence=min(max(float(score), 0.0), 1.0))]
        if parts:
            lines.append(parts)
    return lines
