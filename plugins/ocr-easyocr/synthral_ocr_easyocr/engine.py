"""The ``easyocr`` engine: EasyOCR's CRAFT detector and its recognisers, weights from a folder.

EasyOCR's own ``Reader`` would download missing models and refuses files whose checksum is
not the released one; here it is built with neither model, and both are loaded with
EasyOCR's own loaders from ``weights_dir`` (so fine-tuned models work too).
"""

from __future__ import annotations

import os
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import Field, field_validator

from synthral_sdk import BBox, Context, OCRPage, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, page_from_lines, torchvision_mismatch
from synthral_sdk.errors import ConfigInvalid, InputInvalid, PluginLoadError

__all__ = ["DETECTOR_FILE", "EasyOCRConfig", "EasyOCREngine", "lines_from_easyocr"]

DETECTOR_FILE: Final = "craft_mlt_25k.pth"


class EasyOCRConfig(DocumentConfig):
    """How the ``easyocr`` engine reads documents."""

    weights_dir: Path = Field(
        description=f"Folder with EasyOCR's model files: {DETECTOR_FILE} (the CRAFT detector) and the recogniser "
        "for the languages, e.g. english_g2.pth or latin_g2.pth. Required: without it the engine is not ready."
    )
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1, description="EasyOCR language codes.")
    text_threshold: float = Field(default=0.7, ge=0, le=1, description="CRAFT's text confidence threshold.")
    threads: int = Field(default=1, ge=1, le=16, description="PyTorch threads per page.")

    @field_validator("weights_dir")
    @classmethod
    def _check_weights(cls, value: Path) -> Path:
        if not (value / DETECTOR_FILE).is_file():
            raise ValueError(
                f"{str(value)!r} lacks {DETECTOR_FILE}; put EasyOCR's model files there (see the plugin's README), "
                "or point 'weights_dir' at the folder that has them"
            )
        return value


class EasyOCREngine(PageOCREngine[EasyOCRConfig]):
    """Read printed and handwritten text in 80+ languages with EasyOCR."""

    name = "easyocr"
    title = "EasyOCR (handwriting, many scripts)"

    def __init__(self) -> None:
        self._readers: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def engine_version(self, config: EasyOCRConfig) -> str:
        """``easyocr <version>``."""
        del config
        return f"easyocr {version('easyocr')}"

    def read_page(
        self, page: PageImage, config: EasyOCRConfig, languages: list[str] | None, context: Context
    ) -> OCRPage:
        """Detect and recognise text lines, then split each into words."""
        reader = self._reader(config, languages or config.languages)
        context.check()
        import torch  # noqa: PLC0415 - loaded with the models

        torch.set_num_threads(config.threads)
        found = reader.readtext(np.asarray(page.image.convert("RGB")), detail=1, text_threshold=config.text_threshold)
        return page_from_lines(page.number, page.image.width, page.image.height, lines_from_easyocr(found))

    def _reader(self, config: EasyOCRConfig, languages: list[str]) -> Any:
        key = (str(config.weights_dir), *languages)
        with self._lock:
            if key not in self._readers:
                self._readers[key] = build_reader(config.weights_dir, languages)
            return self._readers[key]


def build_reader(weights_dir: Path, languages: list[str]) -> Any:
    """An EasyOCR ``Reader`` whose detector and recogniser come from ``weights_dir``.

    Raises:
        PluginLoadError: torchvision's compiled operators do not load with the installed torch.
        InputInvalid: EasyOCR has no model for that combination of languages.
        ConfigInvalid: The recogniser's file is missing or does not fit.
    """
    if (mismatch := torchvision_mismatch()) is not None:
        raise PluginLoadError(mismatch, details={"dependency": "torchvision"})
    import easyocr  # noqa: PLC0415
    from easyocr.config import BASE_PATH, recognition_models  # noqa: PLC0415
    from easyocr.detection import get_detector, get_textbox  # noqa: PLC0415
    from easyocr.recognition import get_recognizer  # noqa: PLC0415

    try:
        reader = easyocr.Reader(
            languages,
            gpu=False,
            model_storage_directory=str(weights_dir),
            download_enabled=False,
            detector=False,
            recognizer=False,
            verbose=False,
        )
    except ValueError as exc:
        raise InputInvalid(
            f"EasyOCR cannot read {languages} together: {exc}", details={"languages": languages}
        ) from None
    generation, model = _recogniser(reader, recognition_models)
    model_path = weights_dir / model["filename"]
    if not model_path.is_file():
        raise ConfigInvalid(
            f"config field 'weights_dir' ({weights_dir}) lacks {model['filename']}, EasyOCR's recogniser for "
            f"{', '.join(languages)}; add it (see the plugin's README) or choose other 'languages'",
            details={"missing": model["filename"]},
        )
    reader.detect_network = "craft"
    reader.get_textbox = get_textbox
    try:
        reader.detector = get_detector(str(weights_dir / DETECTOR_FILE), device="cpu", quantize=False)
        params = {"input_channel": 1, "output_channel": 256 if generation == "generation2" else 512,
                  "hidden_size": 256 if generation == "generation2" else 512}  # fmt: skip
        dicts = {language: os.path.join(BASE_PATH, "dict", f"{language}.txt") for language in languages}
        reader.recognizer, reader.converter = get_recognizer(
            generation, params, reader.character, {}, dicts, str(model_path), device="cpu", quantize=False
        )
    except (RuntimeError, KeyError, OSError) as exc:
        raise ConfigInvalid(
            f"EasyOCR's models in {weights_dir} could not be loaded ({str(exc)[:300]}); replace them with the files "
            "EasyOCR publishes for these languages",
            details={"weights_dir": str(weights_dir)},
        ) from None
    return reader


def _recogniser(reader: Any, models: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The recogniser EasyOCR chose for the reader's languages (its generation and file)."""
    for generation in ("gen2", "gen1"):
        for name, model in models[generation].items():
            if model["characters"] == reader.character and name.startswith(reader.model_lang):
                return ("generation2" if generation == "gen2" else "generation1"), model
    for generation in ("gen2", "gen1"):
        for model in models[generation].values():
            if model["characters"] == reader.character:
                return ("generation2" if generation == "gen2" else "generation1"), model
    raise ConfigInvalid(f"EasyOCR has no recogniser for language group {reader.model_lang!r}")


def lines_from_easyocr(found: list[Any]) -> list[list[OCRWord]]:
    """EasyOCR's ``(quad, text, confidence)`` lines, split into words.

    EasyOCR boxes whole lines; a word's box is the line's, cut in proportion to the
    characters before it (exact for monospaced text, close for the rest).
    """
    lines: list[list[OCRWord]] = []
    for quad, text, confidence in found:
        points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        parts = str(text).split()
        if not parts:
            continue
        total = len(" ".join(parts))
        per_char = (right - left) / max(total, 1)
        words, offset = [], 0
        for part in parts:
            x = left + offset * per_char
            box = BBox(x=float(x), y=float(top), width=float(len(part) * per_char), height=float(bottom - top))
            words.append(OCRWord(text=part, bbox=box, confidence=min(max(float(confidence), 0.0), 1.0)))
            offset += len(part) + 1
        lines.append(words)
    return lines
