"""Documents for OCR engines: pages streamed from the blob store, PDF text layers, clean page images.

Needs the ``documents`` extra (``synthral-sdk[documents]``: Pillow, pypdfium2, NumPy). An
engine that subclasses :class:`PageOCREngine` fills in one method, :meth:`~PageOCREngine.read_page`,
which reads one prepared page image; the SDK owns everything around it:

- opening the document from its blob *file* (never the whole file in memory), by content,
  not by declared media type: PDF, PNG, JPEG, WebP, BMP, TIFF (every frame a page), HEIC
  when ``pillow-heif`` is installed;
- refusing what cannot be read with an error naming the problem and the fix: an encrypted
  or damaged PDF, a file that is not a document, more pages than ``max_pages``, a page
  larger than ``max_pixels``;
- a PDF page's own text layer when it has one (no OCR at all), OCR of the image regions of
  such a page that carry no text, OCR of pages without a text layer; each page says which
  (:attr:`OCRPage.source`);
- EXIF orientation, quarter-turn and skew correction, resolution normalisation;
- ``page_workers`` pages at a time, progress after every page, cancellation between pages.

For engines on PyTorch, :func:`torchvision_mismatch` says (before anything imports
torchvision) when torchvision's compiled operators do not load with the installed torch, as
a message naming the fix.
"""

from __future__ import annotations

import abc
import math
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Final, Generic, TypeVar, final

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # pypdfium2 ships no type information
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # as above
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk._documents import BBox, OCREngine, OCRPage, OCRRequest, OCRResult, OCRWord
from synthral_sdk._layout import (
    assemble_page,
    deskew_angle,
    mean_confidence,
    needs_quarter_turn,
    page_from_lines,
    shift_lines,
    union,
)
from synthral_sdk._torchvision import torchvision_mismatch
from synthral_sdk.blobs import BlobStore
from synthral_sdk.context import Context
from synthral_sdk.errors import InputInvalid
from synthral_sdk.types import BlobRef

__all__ = [
    "ACCEPTED_FORMATS",
    "PAGE_SEPARATOR",
    "Document",
    "DocumentConfig",
    "PageImage",
    "PageOCREngine",
    "assemble_page",
    "deskew_angle",
    "open_document",
    "page_from_lines",
    "select_pages",
    "torchvision_mismatch",
    "union",
]

PAGE_SEPARATOR: Final = "\f"
"""Joins the pages' text in :attr:`OCRResult.text`, as Tesseract's own text output does."""

try:  # HEIC/HEIF (phone photos) when the optional decoder is installed.
    from pillow_heif import register_heif_opener  # type: ignore[import-not-found, unused-ignore]

    register_heif_opener()
    _HEIF = True
except ImportError:  # pragma: no cover - depends on the environment
    _HEIF = False

#: Pillow refuses to open with a format it has no plugin for, so HEIF is named only when present.
_IMAGE_FORMATS: Final = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", *(("HEIF",) if _HEIF else ()))

ACCEPTED_FORMATS: Final = "PDF, PNG, JPEG, WebP, BMP, TIFF (single or multi-page)" + (", HEIC" if _HEIF else "")
"""The formats :func:`open_document` reads, for messages."""

#: PDFium is not thread-safe, not even across documents: every PDFium call goes through this.
_PDFIUM_LOCK: Final = threading.Lock()

#: Resolutions outside this range are placeholders (many tools write 1 or 72 dpi).
_PLAUSIBLE_DPI: Final = range(70, 2401)

#: An image region of a text-layer PDF page is read by OCR when it covers at least this
#: share of the page and no text of the layer lies on it.
_MIN_REGION_SHARE: Final = 0.02


class DocumentConfig(BaseModel):
    """How documents are turned into pages; every :class:`PageOCREngine`'s config extends it."""

    model_config = ConfigDict(extra="forbid")

    dpi: int = Field(
        default=300,
        ge=72,
        le=600,
        description="Resolution PDF pages are rendered at, and images of a known other resolution are scaled to.",
    )
    use_text_layer: bool = Field(
        default=True,
        description="Take a PDF page's own text instead of OCR when it has some; false OCRs every page.",
    )
    ocr_image_regions: bool = Field(
        default=True, description="On a PDF page with a text layer, also OCR the pictures that carry no text."
    )
    deskew: bool = Field(default=True, description="Straighten pages scanned at a slant (up to 10 degrees).")
    detect_rotation: bool = Field(default=True, description="Turn pages whose lines run vertically upright.")
    max_pages: int = Field(
        default=2000, ge=1, le=100_000, description="Refuse documents with more pages than this (ask for 'pages')."
    )
    max_pixels: int = Field(
        default=150_000_000,
        ge=1_000_000,
        le=1_000_000_000,
        description="Refuse a page image larger than this many pixels (a 20,000 x 20,000 image is 400 million).",
    )
    page_workers: int = Field(default=1, ge=1, le=16, description="How many pages are read at the same time.")


ConfigT = TypeVar("ConfigT", bound=DocumentConfig)


@dataclass(frozen=True)
class PageImage:
    """One page (or a region of one) as an image an engine reads.

    Attributes:
        number: 1-based page number in the document.
        image: The page, in mode ``L`` or ``RGB``, upright and straightened.
        dpi: The image's resolution when known.
        rotation: Degrees the page was turned clockwise to make it upright.
        skew: Degrees of slant removed.
        offset: Where the image's top-left corner lies on the full page, in page pixels
            (non-zero for a region of a PDF page).
    """

    number: int
    image: Image.Image
    dpi: int | None = None
    rotation: int = 0
    skew: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)


class Document(abc.ABC):
    """An open document whose pages are produced one at a time, so memory stays bounded."""

    kind: str = "document"

    @property
    @abc.abstractmethod
    def page_count(self) -> int:
        """How many pages the document has."""

    @abc.abstractmethod
    def render(self, number: int) -> PageImage:
        """Page ``number`` (1-based) as an image.

        Raises:
            InputInvalid: The page cannot be decoded or is too large.
        """

    def text_layer(self, number: int) -> OCRPage | None:
        """Page ``number`` read from the document's own text, or ``None`` when it has none."""
        del number
        return None

    def untexted_regions(self, number: int) -> list[PageImage]:
        """Rendered pictures on page ``number`` that its text layer does not cover."""
        del number
        return []

    @abc.abstractmethod
    def close(self) -> None:
        """Release the document."""

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def open_document(path: Path, *, media_type: str, config: DocumentConfig) -> Document:
    """Open the file at ``path`` as a PDF or an image, reading only what a page needs.

    Raises:
        InputInvalid: Not a readable PDF or image of an accepted format, encrypted, or
            larger than the config's ``max_pages`` or ``max_pixels``.
    """
    with path.open("rb") as head_file:
        head = head_file.read(1024)
    document: Document
    if b"%PDF-" in head:
        document = _PdfDocument(path, config)
    else:
        try:
            document = _ImageDocument(path, media_type, config)
        except InputInvalid:
            if media_type == "application/pdf":
                document = _PdfDocument(path, config)
            else:
                raise
    if document.page_count > config.max_pages:
        count = document.page_count
        document.close()
        raise InputInvalid(
            f"the {document.kind} has {count} pages, more than the limit of {config.max_pages} (config field "
            "'max_pages'); split the document, or raise 'max_pages' if this machine can take it",
            details={"pageCount": count, "max_pages": config.max_pages},
        )
    return document


def select_pages(requested: Sequence[int] | None, document: Document) -> list[int]:
    """The page numbers to read: ``requested`` in order without repeats, or all.

    Raises:
        InputInvalid: A requested page is not in the document.
    """
    count = document.page_count
    if requested is None:
        return list(range(1, count + 1))
    outside = [number for number in requested if not 1 <= number <= count]
    if outside:
        noun = "page" if count == 1 else "pages"
        raise InputInvalid(
            f"input field 'pages' asks for page {outside[0]}, but the {document.kind} has {count} {noun}; "
            f"ask for pages 1 to {count}, or leave 'pages' out to read them all",
            details={"pages": list(requested), "pageCount": count},
        )
    return list(dict.fromkeys(requested))


# -- PDF -----------------------------------------------------------------------------------


class _PdfDocument(Document):
    kind = "PDF"

    def __init__(self, path: Path, config: DocumentConfig) -> None:
        self._config = config
        with _PDFIUM_LOCK:
            try:
                # A path, not bytes: PDFium reads the objects a page needs from the file.
                self._pdf = pdfium.PdfDocument(str(path))
                self._count = len(self._pdf)
            except pdfium.PdfiumError as exc:
                if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                    raise InputInvalid(
                        "the document is a password-protected PDF; remove the password "
                        "(for example 'qpdf --decrypt --password=... in.pdf out.pdf') and send it again",
                        details={"format": "pdf", "error": "password"},
                    ) from None
                raise InputInvalid(
                    f"the document looks like a PDF but cannot be read ({exc}); "
                    f"send an intact PDF or an image. Accepted formats: {ACCEPTED_FORMATS}",
                    details={"format": "pdf", "error": str(exc)},
                ) from None

    @property
    def page_count(self) -> int:
        return self._count

    def _scale(self) -> float:
        return self._config.dpi / 72  # PDF user space is in points, 72 to the inch

    def render(self, number: int) -> PageImage:
        scale = self._scale()
        with _PDFIUM_LOCK:
            page = self._pdf[number - 1]
            try:
                width, height = page.get_size()
                pixels = math.ceil(width * scale) * math.ceil(height * scale)
                if pixels > self._config.max_pixels:
                    raise InputInvalid(
                        f"page {number} of the PDF is {width / 72:.0f} x {height / 72:.0f} inches, "
                        f"{pixels / 1e6:.0f} million pixels at {self._config.dpi} dpi (the limit, config field "
                        f"'max_pixels', is {self._config.max_pixels / 1e6:.0f} million); lower the config "
                        "field 'dpi' or raise 'max_pixels'",
                        details={"page": number, "dpi": self._config.dpi, "max_pixels": self._config.max_pixels},
                    )
                bitmap = page.render(scale=scale, grayscale=True)
                try:
                    image = bitmap.to_pil().copy()  # to_pil() shares the buffer close() frees
                finally:
                    bitmap.close()
            finally:
                page.close()
        return PageImage(number=number, image=image, dpi=self._config.dpi)

    def text_layer(self, number: int) -> OCRPage | None:
        scale = self._scale()
        with _PDFIUM_LOCK:
            page = self._pdf[number - 1]
            try:
                width, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    chars = _chars(textpage, height, scale)
                finally:
                    textpage.close()
            finally:
                page.close()
        if not any(not char.space for char in chars):
            return None
        lines = _lines_from_chars(chars)
        page_out = page_from_lines(number, math.ceil(width * scale), math.ceil(height * scale), lines)
        return page_out.model_copy(update={"source": "text_layer", "dpi": self._config.dpi})

    def untexted_regions(self, number: int) -> list[PageImage]:
        scale = self._scale()
        regions: list[PageImage] = []
        with _PDFIUM_LOCK:
            page = self._pdf[number - 1]
            try:
                width, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    centres = [
                        ((c.box.x + c.box.width / 2) / scale, height - (c.box.y + c.box.height / 2) / scale)
                        for c in _chars(textpage, height, scale)
                        if not c.space
                    ]
                finally:
                    textpage.close()
                for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
                    left, bottom, right, top = obj.get_bounds()
                    left, bottom = max(left, 0.0), max(bottom, 0.0)
                    right, top = min(right, width), min(top, height)
                    if (
                        right <= left
                        or top <= bottom
                        or (right - left) * (top - bottom) < _MIN_REGION_SHARE * width * height
                    ):
                        continue
                    if any(left <= x <= right and bottom <= y <= top for x, y in centres):
                        continue
                    crop = (left, bottom, width - right, height - top)
                    bitmap = page.render(scale=scale, grayscale=True, crop=crop)
                    try:
                        image = bitmap.to_pil().copy()
                    finally:
                        bitmap.close()
                    offset = (left * scale, (height - top) * scale)
                    regions.append(PageImage(number=number, image=image, dpi=self._config.dpi, offset=offset))
            finally:
                page.close()
        return regions

    def close(self) -> None:
        with _PDFIUM_LOCK:
            self._pdf.close()


@dataclass(frozen=True)
class _Char:
    text: str
    box: BBox
    space: bool
    newline: bool


def _chars(textpage: object, page_height: float, scale: float) -> list[_Char]:
    """The text layer's characters with boxes in page pixels (origin top left)."""
    handle = textpage.raw  # type: ignore[attr-defined]
    count = pdfium_c.FPDFText_CountChars(handle)
    left, right, bottom, top = (pdfium_c.c_double() for _ in range(4))
    chars: list[_Char] = []
    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(handle, index)
        text = chr(code) if code else ""
        newline = text in ("\r", "\n")
        space = newline or not text.strip()
        if space:
            chars.append(_Char(text, BBox(x=0, y=0, width=0, height=0), True, newline))
            continue
        pdfium_c.FPDFText_GetCharBox(handle, index, left, right, bottom, top)
        box = BBox(
            x=left.value * scale,
            y=(page_height - top.value) * scale,
            width=max(right.value - left.value, 0.0) * scale,
            height=max(top.value - bottom.value, 0.0) * scale,
        )
        chars.append(_Char(text, box, False, False))
    return chars


def _lines_from_chars(chars: list[_Char]) -> list[list[OCRWord]]:
    """Group characters into words (split at spaces) and lines (split at line breaks or jumps)."""
    lines: list[list[OCRWord]] = []
    line: list[OCRWord] = []
    word: list[_Char] = []

    def end_word() -> None:
        if word:
            box = union([char.box for char in word])
            line.append(OCRWord(text="".join(char.text for char in word), bbox=box, confidence=1.0))
            word.clear()

    def end_line() -> None:
        end_word()
        if line:
            lines.append(list(line))
            line.clear()

    top = bottom = right = 0.0
    for char in chars:
        if char.newline:
            end_line()
        elif char.space:
            end_word()
        else:
            box = char.box
            if line or word:
                # Another line when the character shares no height with the line so far, or
                # the text jumps back left; a full stop sits low but still on its line.
                apart = box.y > bottom or box.y + box.height < top
                if apart or box.x < right - 2 * max(bottom - top, box.height):
                    end_line()
            if not (line or word):
                top, bottom, right = box.y, box.y + box.height, box.x
            top, bottom = min(top, box.y), max(bottom, box.y + box.height)
            right = max(right, box.x + box.width)
            word.append(char)
    end_line()
    return lines


# -- images --------------------------------------------------------------------------------


class _ImageDocument(Document):
    def __init__(self, path: Path, media_type: str, config: DocumentConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        try:
            with warnings.catch_warnings():
                # The size is checked against 'max_pixels' below, with a message naming it.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self._image = Image.open(path, formats=_IMAGE_FORMATS)  # reads the header only
        except UnidentifiedImageError:
            with path.open("rb") as head:
                start = head.read(8)
            raise InputInvalid(
                f"the document (declared as {media_type!r}, starting with bytes {start!r}) is neither a PDF "
                f"nor an image of an accepted format; send {ACCEPTED_FORMATS}",
                details={"mediaType": media_type, "accepted": ACCEPTED_FORMATS},
            ) from None
        except Image.DecompressionBombError as exc:
            raise InputInvalid(
                f"the image is too large to read safely ({exc}); the limit is config field 'max_pixels' "
                f"({config.max_pixels:,} pixels): scale the image down before OCR",
                details={"mediaType": media_type, "max_pixels": config.max_pixels},
            ) from None
        fmt = self._image.format or "image"
        self.kind = f"{fmt} image"
        self._count = getattr(self._image, "n_frames", 1) if fmt == "TIFF" else 1

    @property
    def page_count(self) -> int:
        return self._count

    def render(self, number: int) -> PageImage:
        # One Pillow image serves every page (TIFF frames are sought): one page worker at a time.
        with self._lock:
            return self._render(number)

    def _render(self, number: int) -> PageImage:
        try:
            self._image.seek(number - 1)
            width, height = self._image.size
            if width * height > self._config.max_pixels:
                raise InputInvalid(
                    f"page {number} of the {self.kind} is {width:,} x {height:,} pixels, more than the limit of "
                    f"{self._config.max_pixels:,} (config field 'max_pixels'); scale the image down before OCR, "
                    "or raise 'max_pixels' if this machine has the memory",
                    details={"page": number, "width": width, "height": height, "max_pixels": self._config.max_pixels},
                )
            if self._image.format == "JPEG":
                # Decode a huge JPEG at a fraction of its size when that still meets the dpi.
                self._image.draft("RGB", (width, height))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                upright = ImageOps.exif_transpose(self._image)  # phone photos are stored sideways
                image = _plain(upright)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise InputInvalid(
                f"page {number} of the {self.kind} is damaged or truncated ({exc}); send the file again",
                details={"page": number},
            ) from None
        dpi = _plausible_dpi(self._image.info.get("dpi"))
        return PageImage(number=number, image=image, dpi=dpi)

    def close(self) -> None:
        self._image.close()


def _plain(image: Image.Image) -> Image.Image:
    """``image`` in mode ``L`` or ``RGB``; transparency goes onto white paper."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I;16") or image.mode == "I":
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return image.convert("RGB")


def _plausible_dpi(value: object) -> int | None:
    if not isinstance(value, tuple) or not value:
        return None
    try:
        dpi = round(float(value[0]))  # TIFF resolutions are IFDRational, not float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return dpi if dpi in _PLAUSIBLE_DPI else None


# -- page clean-up-------------------------------------------------------------------------


def _normalise(page: PageImage, config: DocumentConfig) -> PageImage:
    """Scale to the configured dpi (when the image's is known), turn upright, straighten."""
    image, dpi, target_dpi = page.image, page.dpi, config.dpi
    if dpi is not None and abs(dpi - target_dpi) > 0.1 * target_dpi:
        factor = min(target_dpi / dpi, 2.0)
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.LANCZOS if factor < 1 else Image.Resampling.BICUBIC)
        dpi = round(dpi * factor)
    rotation = 0
    if config.detect_rotation and needs_quarter_turn(image):
        image = image.transpose(Image.Transpose.ROTATE_270)  # 90 degrees clockwise
        rotation = 90
    skew = 0.0
    if config.deskew:
        skew = deskew_angle(image)
        if skew:
            fill = 255 if image.mode == "L" else (255, 255, 255)
            image = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    return replace(page, image=image, dpi=dpi, rotation=rotation, skew=skew)


# -- the engine base -----------------------------------------------------------------------


class PageOCREngine(OCREngine[ConfigT], Generic[ConfigT]):
    """An OCR engine that reads one page image at a time; the SDK handles the documents.

    Implement :meth:`read_page`. Its config model must extend :class:`DocumentConfig`.
    """

    @abc.abstractmethod
    def engine_version(self, config: ConfigT) -> str:
        """The engine's name and version for :attr:`OCRResult.engine`, e.g. ``"rapidocr 3.4.0"``."""

    @abc.abstractmethod
    def read_page(self, page: PageImage, config: ConfigT, languages: list[str] | None, context: Context) -> OCRPage:
        """Read one upright page image; boxes in the image's pixels.

        Called from several threads at once when ``page_workers`` > 1.
        """

    @final
    def recognize(self, request: OCRRequest, config: ConfigT, context: Context) -> OCRResult:
        """Read the requested pages: text layer where there is one, OCR elsewhere, pages in order."""
        engine = self.engine_version(config)
        path = _blob_path(context.blobs, request.document)
        with open_document(path, media_type=request.document.media_type, config=config) as document:
            reading = _Reading(document, path, request.languages, config, context)
            numbers = select_pages(request.pages, document)
            reading.native = self._native(reading, numbers)
            pages = list(self._pages(reading, numbers))
        return OCRResult(engine=engine, text=PAGE_SEPARATOR.join(page.text for page in pages), pages=pages)

    def read_pdf_pages(
        self, path: Path, numbers: list[int], config: ConfigT, languages: list[str] | None, context: Context
    ) -> dict[int, OCRPage] | None:
        """Read these pages of the PDF at ``path`` in one go, for engines that read PDFs themselves.

        The SDK calls it with the pages that have no text layer (or pictures without text);
        the default, ``None``, reads them one at a time with :meth:`read_page`. Return pages
        by number, boxes in pixels at ``config.dpi``.
        """
        del path, numbers, config, languages, context
        return None

    def _native(self, reading: _Reading[ConfigT], numbers: list[int]) -> dict[int, OCRPage]:
        document, config = reading.document, reading.config
        if not isinstance(document, _PdfDocument) or type(self).read_pdf_pages is PageOCREngine.read_pdf_pages:
            return {}
        wanted = [
            number
            for number in numbers
            if not config.use_text_layer
            or document.text_layer(number) is None
            or (config.ocr_image_regions and document.untexted_regions(number))
        ]
        if not wanted:
            return {}
        read = self.read_pdf_pages(reading.path, wanted, config, reading.languages, reading.context) or {}
        return {
            number: page.model_copy(update={"number": number, "source": "ocr", "dpi": config.dpi})
            for number, page in read.items()
        }

    def _pages(self, reading: _Reading[ConfigT], numbers: list[int]) -> Iterator[OCRPage]:
        every = numbers == list(range(1, reading.document.page_count + 1))
        workers = reading.config.page_workers
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr-page") as pool:
            pending: list[Future[OCRPage]] = []
            queue = iter(numbers)
            done = 0

            def submit_next() -> None:
                number = next(queue, None)
                if number is not None:
                    pending.append(pool.submit(self._one_page, reading, number))

            for _ in range(workers):
                submit_next()
            while pending:
                future = pending.pop(0)
                try:
                    page = future.result()
                except BaseException:
                    for other in pending:
                        other.cancel()
                    raise
                submit_next()
                done += 1
                note = f"page {done} of {len(numbers)}"
                reading.context.report_progress(done / len(numbers), note if every else f"{note} (page {page.number})")
                yield page

    def _one_page(self, reading: _Reading[ConfigT], number: int) -> OCRPage:
        document, config, languages, context = reading.document, reading.config, reading.languages, reading.context
        context.check()
        if number in reading.native:
            return reading.native[number]
        if config.use_text_layer:
            layer = document.text_layer(number)
            if layer is not None:
                regions = document.untexted_regions(number) if config.ocr_image_regions else []
                if not regions:
                    return layer
                lines = [line for block in layer.blocks for line in block.lines]
                for region in regions:
                    context.check()
                    read = self.read_page(region, config, languages, context)
                    lines.extend(shift_lines(read, *region.offset))
                merged = assemble_page(number, layer.width, layer.height, lines)
                return merged.model_copy(update={"source": "mixed", "dpi": layer.dpi})
        raw = document.render(number)
        page = _normalise(raw, config)
        result = self.read_page(page, config, languages, context)
        if page.rotation == 90 and mean_confidence(result) < 0.8:
            # A page on its side may lie either way; read it the other way up and keep the better.
            flipped = replace(page, image=page.image.transpose(Image.Transpose.ROTATE_180), rotation=270)
            other = self.read_page(flipped, config, languages, context)
            if mean_confidence(other) > mean_confidence(result):
                page, result = flipped, other
        return result.model_copy(
            update={
                "number": number,
                "source": "ocr",
                "dpi": page.dpi,
                "rotation": page.rotation,
                "skew": page.skew,
                "width": page.image.width,
                "height": page.image.height,
            }
        )


@dataclass
class _Reading(Generic[ConfigT]):
    """One call's document and settings, shared by the page workers."""

    document: Document
    path: Path
    languages: list[str] | None
    config: ConfigT
    context: Context
    native: dict[int, OCRPage] = field(default_factory=dict)


def _blob_path(blobs: BlobStore, ref: BlobRef) -> Path:
    """The blob's file, after checking it is whole (without reading it).

    Raises:
        InputInvalid: The blob is missing or its size differs from the reference.
    """
    path = blobs.path(ref)
    size = path.stat().st_size
    if size != ref.size:
        raise InputInvalid(
            f"blob {ref.digest} has {size} bytes but the reference says {ref.size}; "
            "the reference was edited or the store is damaged",
            details={"digest": ref.digest},
        )
    return path
