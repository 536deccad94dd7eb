"""The ``tesseract`` OCR engine: its config, and Tesseract's output turned into pages of blocks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthral_ocr_tesseract.documents import PageImage, open_document, select_pages
from synthral_ocr_tesseract.tesseract import TesseractBinary, TesseractRunError, TsvData, find_tesseract
from synthral_sdk import BBox, Context, OCRBlock, OCREngine, OCRLine, OCRPage, OCRRequest, OCRResult, OCRWord
from synthral_sdk.errors import ConfigInvalid, ConfigurationError, InputInvalid, NonRetryableError

__all__ = ["PAGE_SEPARATOR", "TesseractConfig", "TesseractEngine"]

PAGE_SEPARATOR: Final = "\f"
"""Joins the pages' text in :attr:`OCRResult.text`, as Tesseract's own text output does."""

#: A Tesseract language: a traineddata file name without its extension, optionally in a
#: subdirectory of the tessdata directory (``script/Latin``).
_LANGUAGE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)?")

#: Tesseract's TSV ``level`` column: 1 page, 2 block, 3 paragraph, 4 line, 5 word.
_BLOCK_LEVEL: Final = 2
_WORD_LEVEL: Final = 5

#: Page segmentation modes in which Tesseract writes no text: 0 detects orientation and
#: script only, 2 analyses the layout only.
_LAYOUT_ONLY_PSMS: Final = frozenset({0, 2})

#: OCR engine modes that run the legacy engine, which most published models do not include.
_LEGACY_OEMS: Final = frozenset({0, 2})


class TesseractConfig(BaseModel):
    """How the ``tesseract`` engine reads documents."""

    model_config = ConfigDict(extra="forbid")

    languages: list[str] = Field(
        default_factory=lambda: ["eng"],
        min_length=1,
        description="Tesseract language codes, in order of preference (e.g. ['eng', 'deu']); "
        "the request's 'languages' overrides them.",
    )
    psm: int = Field(
        default=3,
        ge=0,
        le=13,
        description="Page segmentation mode: 1 automatic with orientation detection, 3 fully automatic, "
        "4 one column, 6 one uniform block, 7 one line, 11 sparse text. Modes 0 and 2 only analyse the "
        "layout and read no text, so they are refused.",
    )
    oem: int | None = Field(
        default=None,
        ge=0,
        le=3,
        description="OCR engine mode: 1 LSTM, 3 Tesseract's default. 0 and 2 need legacy-capable "
        "traineddata, which the usual packages lack. Unset: Tesseract's default.",
    )
    dpi: int = Field(default=300, ge=72, le=600, description="Resolution to render PDF pages at.")
    min_confidence: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Words recognised with a lower confidence (0 to 1) are dropped."
    )
    tesseract_cmd: str | None = Field(
        default=None, description="Path (or name on PATH) of the tesseract binary; 'tesseract' on PATH when unset."
    )
    tessdata_dir: Path | None = Field(
        default=None,
        description="Directory of .traineddata language models to use instead of the installed ones; "
        "passed to Tesseract as --tessdata-dir.",
    )

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, value: list[str]) -> list[str]:
        return _split_languages(value)

    @field_validator("psm")
    @classmethod
    def _check_psm(cls, value: int) -> int:
        if value in _LAYOUT_ONLY_PSMS:
            raise ValueError(
                f"page segmentation mode {value} only analyses the layout and reads no text; use 3 "
                "(automatic), 1 (automatic with orientation detection) or another mode from 4 to 13"
            )
        return value

    @field_validator("tessdata_dir")
    @classmethod
    def _check_tessdata_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(
                f"{str(value)!r} is not a directory; point it at a directory holding <language>.traineddata "
                "files, or leave it unset to use the installed languages"
            )
        return value


def _split_languages(codes: Sequence[str]) -> list[str]:
    """Split Tesseract's ``eng+deu`` notation and check every code's form."""
    languages = [part.strip() for code in codes for part in code.split("+") if part.strip()]
    for language in languages:
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(f"{language!r} is not a Tesseract language code; use codes like 'eng', 'deu' or 'chi_sim'")
    return list(dict.fromkeys(languages))


class TesseractEngine(OCREngine[TesseractConfig]):
    """Read printed text in images and PDFs with the Tesseract OCR engine, on this machine."""

    name = "tesseract"
    title = "Tesseract OCR"
    icon = "scan-text"

    def recognize(self, request: OCRRequest, config: TesseractConfig, context: Context) -> OCRResult:
        """Read every requested page of the document; see the package README for details.

        Raises:
            InputInvalid: The document is missing, unreadable, of another format, or a
                requested page or language does not exist.
            ConfigInvalid: A configured language is not installed, or Tesseract rejects
                the configured engine mode or language data.
            NonRetryableError: Tesseract is not installed or failed on a page.
            DeadlineExceeded: The call's timeout passed.
            Cancelled: The caller cancelled the call.
        """
        binary = TesseractBinary(find_tesseract(config.tesseract_cmd), config.tessdata_dir)
        engine = f"tesseract {binary.version()}"
        languages = _check_installed(binary, request, config)
        data = context.blobs.get(request.document)
        pages: list[OCRPage] = []
        with open_document(data, media_type=request.document.media_type, dpi=config.dpi) as document:
            numbers = select_pages(request.pages, document)
            every_page = numbers == list(range(1, document.page_count + 1))
            for done, number in enumerate(numbers, start=1):
                context.check()
                page = document.render(number)
                tsv = _run(binary, page, languages, config, context)
                pages.append(_page_from_tsv(page, tsv, config.min_confidence))
                note = f"page {done} of {len(numbers)}"
                context.report_progress(done / len(numbers), note if every_page else f"{note} (page {number})")
        return OCRResult(engine=engine, text=PAGE_SEPARATOR.join(page.text for page in pages), pages=pages)


def _check_installed(binary: TesseractBinary, request: OCRRequest, config: TesseractConfig) -> list[str]:
    """Return the languages to read with, after checking each is installed."""
    from_request = bool(request.languages)
    error: type[ConfigurationError] = InputInvalid if from_request else ConfigInvalid
    field_name = "input field 'languages'" if from_request else "config field 'languages'"
    try:
        languages = _split_languages(request.languages) if request.languages else config.languages
    except ValueError as exc:
        raise InputInvalid(f"{field_name}: {exc}", details={"languages": list(request.languages or [])}) from None
    installed = binary.languages()
    missing = [language for language in languages if language not in installed]
    if missing:
        raise error(
            _not_installed_message(field_name, missing, installed, binary),
            details={"missing": list(missing), "installed": list(installed)},
        )
    return languages


def _not_installed_message(field_name: str, missing: list[str], installed: list[str], binary: TesseractBinary) -> str:
    where = f"in {binary.tessdata_dir}" if binary.tessdata_dir else f"for {binary.path}"
    names = ", ".join(map(repr, missing))
    verb, pronoun = ("is", "it") if len(missing) == 1 else ("are", "them")
    # Debian and Ubuntu package language 'chi_sim' as tesseract-ocr-chi-sim; script models
    # ('script/Latin') come in packages named differently, so only the plain codes get a hint.
    packages = " ".join(f"tesseract-ocr-{code.lower().replace('_', '-')}" for code in missing if "/" not in code)
    install = f"install {pronoun} ('apt-get install {packages}') or " if packages else ""
    return (
        f"{field_name} names {names}, which {verb} not installed {where} "
        f"(installed: {', '.join(installed) or 'none'}); {install}set the config field 'tessdata_dir' "
        "to a directory holding the .traineddata files"
    )


def _run(
    binary: TesseractBinary, page: PageImage, languages: list[str], config: TesseractConfig, context: Context
) -> TsvData:
    try:
        return binary.image_to_data(
            page.image,
            languages=languages,
            psm=config.psm,
            oem=config.oem,
            dpi=page.dpi,
            timeout=context.time_remaining(),
        )
    except TesseractRunError as exc:
        if "legacy" in exc.message and config.oem in _LEGACY_OEMS:
            raise ConfigInvalid(
                f"config field 'oem' is {config.oem}, which needs the legacy engine, but the language data "
                f"lacks it (tesseract says: {exc.message}); use oem 1 or 3, leave 'oem' unset, or point "
                "'tessdata_dir' at legacy-capable .traineddata files",
                details={"oem": config.oem, "languages": list(languages), "tesseract": exc.message},
            ) from None
        if "load any languages" in exc.message or "Failed loading language" in exc.message:
            raise ConfigInvalid(
                f"tesseract cannot load the language data for {'+'.join(languages)} (tesseract says: "
                f"{exc.message}); replace the damaged .traineddata files, or reinstall the language packages",
                details={"languages": list(languages), "tesseract": exc.message},
            ) from None
        raise NonRetryableError(
            f"tesseract failed on page {page.number}: {exc.message}",
            details={"page": page.number, "tesseract": exc.message},
        ) from None


@dataclass
class _Line:
    words: list[OCRWord] = field(default_factory=list)


@dataclass
class _Block:
    bbox: BBox
    lines: dict[tuple[int, int], _Line] = field(default_factory=dict)


def _page_from_tsv(page: PageImage, tsv: TsvData, min_confidence: float) -> OCRPage:
    """Group Tesseract's word rows into blocks of lines, keeping Tesseract's reading order."""
    blocks: dict[int, _Block] = {}
    for row in _rows(tsv):
        level, block_num = int(row["level"]), int(row["block_num"])
        box = BBox(x=int(row["left"]), y=int(row["top"]), width=int(row["width"]), height=int(row["height"]))
        if level == _BLOCK_LEVEL:
            blocks.setdefault(block_num, _Block(bbox=box))
            continue
        text, confidence = str(row["text"]).strip(), float(row["conf"])
        # Rows above word level carry conf -1; empty words are spaces Tesseract kept.
        if level != _WORD_LEVEL or confidence < 0 or not text:
            continue
        word = OCRWord(text=text, bbox=box, confidence=min(confidence / 100, 1.0))
        if word.confidence < min_confidence:
            continue
        block = blocks.setdefault(block_num, _Block(bbox=box))
        block.lines.setdefault((int(row["par_num"]), int(row["line_num"])), _Line()).words.append(word)
    # Tesseract numbers blocks in its reading order: on a multi-column page (psm 3) each
    # column is its own run of blocks, left column first.
    ocr_blocks = [_ocr_block(block, order) for order, block in enumerate(b for b in blocks.values() if b.lines)]
    width, height = page.image.size
    return OCRPage(
        number=page.number,
        width=width,
        height=height,
        text="\n\n".join(block.text for block in ocr_blocks),
        blocks=ocr_blocks,
    )


def _ocr_line(line: _Line) -> OCRLine:
    return OCRLine(
        text=" ".join(word.text for word in line.words),
        bbox=_union([word.bbox for word in line.words]),
        confidence=sum(word.confidence for word in line.words) / len(line.words),
        words=line.words,
    )


def _ocr_block(block: _Block, order: int) -> OCRBlock:
    words = [word for line in block.lines.values() for word in line.words]
    return OCRBlock(
        order=order,
        lines=[_ocr_line(line) for line in block.lines.values()],
        text="\n".join(" ".join(word.text for word in line.words) for line in block.lines.values()),
        # Tesseract measures a block from its layout analysis and a word from its glyphs, so a
        # tall letter can poke out of its block; grow the box so it holds its words.
        bbox=_union([block.bbox, *(word.bbox for word in words)]),
        confidence=sum(word.confidence for word in words) / len(words),
        words=words,
    )


def _union(boxes: Sequence[BBox]) -> BBox:
    left, top = min(box.x for box in boxes), min(box.y for box in boxes)
    right = max(box.x + box.width for box in boxes)
    bottom = max(box.y + box.height for box in boxes)
    return BBox(x=left, y=top, width=right - left, height=bottom - top)


def _rows(tsv: TsvData) -> list[dict[str, int | str]]:
    """Turn pytesseract's columns into rows."""
    columns = list(tsv)
    count = min((len(values) for values in tsv.values()), default=0)
    return [{column: tsv[column][index] for column in columns} for index in range(count)]
