"""Documents as page images: PDF pages rendered with PDFium, images and TIFF pages with Pillow."""

from __future__ import annotations

import abc
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # pypdfium2 ships no type information
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # as above
from PIL import Image, ImageOps, UnidentifiedImageError

from synthral_sdk.errors import InputInvalid

__all__ = ["ACCEPTED_FORMATS", "Document", "PageImage", "open_document", "select_pages"]

ACCEPTED_FORMATS: Final = "PDF, PNG, JPEG, TIFF (single or multi-page), BMP or WebP"
"""The formats :func:`open_document` reads, for messages."""

_IMAGE_FORMATS: Final = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")

#: A rendered PDF page may hold at most this many pixels (A0 at 300 dpi is 139 million);
#: beyond it one page would take gigabytes of memory in Tesseract.
_MAX_PAGE_PIXELS: Final = 150_000_000

#: Resolutions outside this range are placeholders (many tools write 1 or 72 dpi); Tesseract
#: estimates the resolution from the text itself when it is given none.
_PLAUSIBLE_DPI: Final = range(70, 2401)

#: PDFium is not thread-safe, not even across documents, and the runner serves calls from a
#: thread pool: every PDFium call in the process goes through this lock.
_PDFIUM_LOCK: Final = threading.Lock()


@dataclass(frozen=True)
class PageImage:
    """One page of a document as an image Tesseract can read.

    Attributes:
        number: 1-based page number in the document.
        image: The page, in mode ``1``, ``L`` or ``RGB``.
        dpi: The page's resolution when known.
    """

    number: int
    image: Image.Image
    dpi: int | None


class Document(abc.ABC):
    """An open document whose pages are rendered one at a time, to bound memory."""

    #: What the document is, for messages ("PDF", "TIFF image"...).
    kind: str

    @property
    @abc.abstractmethod
    def page_count(self) -> int:
        """How many pages the document has."""

    @abc.abstractmethod
    def render(self, number: int) -> PageImage:
        """Return page ``number`` (1-based, within :attr:`page_count`) as an image.

        Raises:
            InputInvalid: The page cannot be decoded or is too large.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the document."""

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def open_document(data: bytes, *, media_type: str, dpi: int) -> Document:
    """Open ``data`` as a PDF or an image.

    The content decides, not the label: a PDF is recognised by its ``%PDF-`` header (which
    the format allows anywhere in the first 1024 bytes), anything else must be an image
    Pillow reads. ``media_type`` only picks which complaint to make about bytes that are
    neither: PDFium's for a declared ``application/pdf``, the list of formats otherwise.

    Args:
        data: The document's bytes.
        media_type: The media type the blob reference declares.
        dpi: The resolution to render PDF pages at.

    Raises:
        InputInvalid: The bytes are not a readable PDF or image of an accepted format.
    """
    if b"%PDF-" in data[:1024]:
        return _PdfDocument(data, dpi)
    try:
        return _ImageDocument(data, media_type)
    except InputInvalid:
        if media_type == "application/pdf":
            return _PdfDocument(data, dpi)
        raise


def select_pages(requested: Sequence[int] | None, document: Document) -> list[int]:
    """Return the page numbers to read: ``requested`` in order without repeats, or all.

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


class _PdfDocument(Document):
    kind = "PDF"

    def __init__(self, data: bytes, dpi: int) -> None:
        self._dpi = dpi
        with _PDFIUM_LOCK:
            try:
                self._pdf = pdfium.PdfDocument(data)
                self._count = len(self._pdf)
            except pdfium.PdfiumError as exc:
                if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                    raise InputInvalid(
                        "the document is a password-protected PDF; remove the password "
                        "(for example 'qpdf --decrypt --password=... in.pdf out.pdf') and send it again",
                        details={"format": "pdf", "error": "password"},
                    ) from None
                raise InputInvalid(
                    f"the document looks like a PDF but PDFium cannot read it ({exc}); "
                    f"send an intact PDF or an image. Accepted formats: {ACCEPTED_FORMATS}",
                    details={"format": "pdf", "error": str(exc)},
                ) from None

    @property
    def page_count(self) -> int:
        return self._count

    def render(self, number: int) -> PageImage:
        scale = self._dpi / 72  # PDF user space is in points, 72 to the inch
        with _PDFIUM_LOCK:
            page = self._pdf[number - 1]
            try:
                width, height = page.get_size()
                pixels = math.ceil(width * scale) * math.ceil(height * scale)
                if pixels > _MAX_PAGE_PIXELS:
                    raise InputInvalid(
                        f"page {number} of the PDF is {width / 72:.0f} x {height / 72:.0f} inches, "
                        f"{pixels / 1e6:.0f} million pixels at {self._dpi} dpi (the limit is "
                        f"{_MAX_PAGE_PIXELS / 1e6:.0f} million); lower the config field 'dpi'",
                        details={"page": number, "dpi": self._dpi},
                    )
                # Grey is all Tesseract reads, and a third of the memory of RGB.
                bitmap = page.render(scale=scale, grayscale=True)
                try:
                    # to_pil() shares the bitmap's buffer, which close() frees.
                    image = bitmap.to_pil().copy()
                finally:
                    bitmap.close()
            finally:
                page.close()
        return PageImage(number=number, image=image, dpi=self._dpi)

    def close(self) -> None:
        with _PDFIUM_LOCK:
            self._pdf.close()


class _ImageDocument(Document):
    def __init__(self, data: bytes, media_type: str) -> None:
        try:
            self._image = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
        except UnidentifiedImageError:
            raise InputInvalid(
                f"the document (declared as {media_type!r}, starting with bytes {data[:8]!r}) is "
                f"neither a PDF nor an image of an accepted format; send {ACCEPTED_FORMATS}",
                details={"mediaType": media_type, "accepted": ["PDF", *_IMAGE_FORMATS]},
            ) from None
        except Image.DecompressionBombError as exc:
            raise InputInvalid(
                f"the image is too large to read safely ({exc}); scale it down before OCR",
                details={"mediaType": media_type},
            ) from None
        fmt = self._image.format or "image"
        self.kind = f"{fmt} image"
        # Only TIFF frames are pages; the frames of an animated WebP are not.
        self._count = getattr(self._image, "n_frames", 1) if fmt == "TIFF" else 1

    @property
    def page_count(self) -> int:
        return self._count

    def render(self, number: int) -> PageImage:
        try:
            self._image.seek(number - 1)
            # Phone cameras store the picture sideways plus an EXIF note on how to turn it.
            upright = ImageOps.exif_transpose(self._image)
            image = _for_tesseract(upright)
        except (OSError, ValueError, SyntaxError) as exc:
            # Pillow reports truncated and damaged image data as any of these.
            raise InputInvalid(
                f"page {number} of the {self.kind} is damaged or truncated ({exc}); send the file again",
                details={"page": number},
            ) from None
        return PageImage(number=number, image=image, dpi=_plausible_dpi(self._image.info.get("dpi")))

    def close(self) -> None:
        self._image.close()


def _for_tesseract(image: Image.Image) -> Image.Image:
    """Convert ``image`` to a mode Tesseract reads well (``1``, ``L`` or ``RGB``)."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey would clip to white when converted directly; scale it to 8 bits.
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        # Transparent pixels are usually black underneath; put the image on white paper.
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return image.convert("RGB")


def _plausible_dpi(value: object) -> int | None:
    if isinstance(value, tuple) and value and isinstance(value[0], int | float):
        dpi = round(value[0])
        if dpi in _PLAUSIBLE_DPI:
            return dpi
    return None
