"""PDFs made for tests: pages with a real text layer (Helvetica), pages that are only a picture, both."""

from __future__ import annotations

import ctypes
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]
from PIL import Image

A4 = (595.0, 842.0)


@dataclass
class PdfPage:
    """One page: lines of text at (x, y from the top, points), and pictures at a box."""

    lines: Sequence[tuple[float, float, str]] = ()
    images: Sequence[tuple[Image.Image, tuple[float, float, float, float]]] = field(default_factory=list)
    size: tuple[float, float] = A4
    font_size: float = 12.0


def make_pdf(pages: Sequence[PdfPage]) -> bytes:
    """A PDF whose text is real text (selectable, a text layer) and whose pictures are images."""
    pdf = pdfium.PdfDocument.new()
    font = pdfium_c.FPDFText_LoadStandardFont(pdf.raw, b"Helvetica")
    for spec in pages:
        width, height = spec.size
        page = pdf.new_page(width, height)
        for image, (left, top, img_width, img_height) in spec.images:
            obj = pdfium.PdfImage.new(pdf)
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=95)
            obj.load_jpeg(io.BytesIO(buffer.getvalue()), inline=True)
            obj.set_matrix(pdfium.PdfMatrix(img_width, 0, 0, img_height, left, height - top - img_height))
            page.insert_obj(obj)
        for x, y, text in spec.lines:
            raw = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, ctypes.c_float(spec.font_size))
            encoded = (text + "\0").encode("utf-16-le")
            buffer_ = ctypes.create_string_buffer(encoded, len(encoded))
            pdfium_c.FPDFText_SetText(raw, ctypes.cast(buffer_, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
            pdfium_c.FPDFPageObj_Transform(raw, 1, 0, 0, 1, x, height - y - spec.font_size)
            pdfium_c.FPDFPage_InsertObject(page.raw, raw)
        page.gen_content()
        page.close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def image_pdf(images: Sequence[Image.Image], dpi: float) -> bytes:
    """A scanned PDF: every page one picture, no text layer."""
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=list(images[1:]), resolution=dpi)
    return out.getvalue()
