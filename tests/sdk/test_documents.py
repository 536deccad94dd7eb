"""Documents as pages: text layers, images, limits and bad input, without any OCR engine."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from PIL import Image, ImageDraw, ImageFont

from synthral_sdk.documents import DocumentConfig, deskew_angle, open_document, select_pages
from synthral_sdk.errors import InputInvalid
from tests.support.pdfs import PdfPage, image_pdf, make_pdf

CONFIG = DocumentConfig()


def write(tmp_path: Path, data: bytes, name: str = "doc") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def text_image(lines: tuple[str, ...] = ("Invoice number 4721", "Total amount due", "Thank you")) -> Image.Image:
    image = Image.new("L", (1000, 100 + 70 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((40, 40 + 70 * index), line, font=ImageFont.load_default(size=40), fill=0)
    return image


def test_a_pdf_text_layer_is_read_as_words_lines_and_blocks_in_page_pixels(tmp_path: Path) -> None:
    pdf = make_pdf([PdfPage(lines=[(72, 72, "Total due 85.13"), (72, 90, "Second line")])])
    with open_document(write(tmp_path, pdf), media_type="application/pdf", config=CONFIG) as document:
        page = document.text_layer(1)
    assert page is not None
    assert (page.source, page.dpi, page.width, page.height) == ("text_layer", 300, 2480, 3509)
    lines = [line.text for block in page.blocks for line in block.lines]
    assert lines == ["Total due 85.13", "Second line"]
    total = page.blocks[0].words[0]
    assert total.bbox.x == pytest.approx(300, abs=3) and total.confidence == 1.0


def test_a_scanned_page_has_no_text_layer_and_renders_at_the_dpi(tmp_path: Path) -> None:
    pdf = image_pdf([text_image()], dpi=100)
    with open_document(write(tmp_path, pdf), media_type="application/pdf", config=CONFIG) as document:
        assert document.text_layer(1) is None
        page = document.render(1)
    assert page.image.size == (3000, 930) and page.dpi == 300


def test_pictures_without_text_on_a_text_page_are_cut_out_for_ocr(tmp_path: Path) -> None:
    stamp = text_image(("Scanned stamp",))
    pdf = make_pdf([PdfPage(lines=[(72, 72, "Typed text")], images=[(stamp, (72, 400, 300, 51))])])
    with open_document(write(tmp_path, pdf), media_type="application/pdf", config=CONFIG) as document:
        [region] = document.untexted_regions(1)
    assert region.offset == pytest.approx((300, 400 * 300 / 72), abs=2)
    assert region.image.size == pytest.approx((1250, 212), abs=2)


def test_tiff_frames_are_pages_and_heavy_documents_are_refused_by_page_count(tmp_path: Path) -> None:
    frames = [text_image((f"page {n}",)) for n in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    path = write(tmp_path, buffer.getvalue())
    with open_document(path, media_type="image/tiff", config=CONFIG) as document:
        assert document.page_count == 3
        assert select_pages([3, 1, 3], document) == [3, 1]
        with pytest.raises(InputInvalid, match="asks for page 4, but the TIFF image has 3 pages"):
            select_pages([4], document)
    with pytest.raises(InputInvalid, match=r"3 pages, more than the limit of 2 \(config field 'max_pages'\)"):
        open_document(path, media_type="image/tiff", config=DocumentConfig(max_pages=2))


def test_a_10000_page_pdf_is_refused_before_any_page_is_read(tmp_path: Path) -> None:
    pdf = pdfium.PdfDocument.new()
    for _ in range(10_000):
        pdf.new_page(200, 200).close()
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    with pytest.raises(InputInvalid, match="10000 pages, more than the limit of 2000") as caught:
        open_document(write(tmp_path, buffer.getvalue()), media_type="application/pdf", config=CONFIG)
    assert "split the document" in caught.value.message


def white_png(side: int) -> bytes:
    """A valid 1-bit white PNG of side x side pixels, a few kilobytes however large."""
    row = b"\x00" + b"\xff" * (side // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_a_20000_by_20000_image_is_refused_without_decoding_it(tmp_path: Path) -> None:
    # Pillow refuses more than twice its own limit as it opens the file; the message names the setting.
    with pytest.raises(InputInvalid, match=r"too large to read safely .* config field 'max_pixels'"):
        open_document(write(tmp_path, white_png(20_000)), media_type="image/png", config=CONFIG)


def test_an_image_over_max_pixels_is_refused_before_its_pixels_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, white_png(12_000))
    with (
        open_document(path, media_type="image/png", config=DocumentConfig(max_pixels=1_000_000)) as document,
        pytest.raises(InputInvalid, match=r"12,000 x 12,000 pixels, more than the limit of 1,000,000"),
    ):
        document.render(1)


def test_an_encrypted_pdf_says_how_to_remove_the_password(tmp_path: Path) -> None:
    plain = make_pdf([PdfPage(lines=[(72, 72, "secret")])])
    buffer = io.BytesIO()
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        pdf.save(buffer, encryption=pikepdf.Encryption(user="open sesame", owner="owner"))
    with pytest.raises(InputInvalid, match="password-protected PDF; remove the password"):
        open_document(write(tmp_path, buffer.getvalue()), media_type="application/pdf", config=CONFIG)


@pytest.mark.parametrize(
    ("data", "media_type", "message"),
    [
        (b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "application/pdf", "looks like a PDF but cannot be read"),
        (b"name,amount\nacme,12\n", "text/csv", "neither a PDF nor an image of an accepted format"),
        (b"PK\x03\x04 a zip archive", "application/pdf", "looks like a PDF but cannot be read"),
    ],
)
def test_files_that_are_not_documents_are_refused_with_what_to_send(
    tmp_path: Path, data: bytes, media_type: str, message: str
) -> None:
    with pytest.raises(InputInvalid, match=message) as caught:
        open_document(write(tmp_path, data), media_type=media_type, config=CONFIG)
    assert "PNG" in caught.value.message or "PDF" in caught.value.message


def test_a_truncated_image_fails_on_its_page(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    text_image().save(buffer, format="PNG")
    path = write(tmp_path, buffer.getvalue()[:400])
    with (
        open_document(path, media_type="image/png", config=CONFIG) as document,
        pytest.raises(InputInvalid, match="page 1 of the PNG image is damaged or truncated"),
    ):
        document.render(1)


@pytest.mark.parametrize("angle", [-6.0, -2.5, 3.0, 8.0])
def test_the_slant_of_text_lines_is_measured(angle: float) -> None:
    slanted = text_image().rotate(angle, expand=True, fillcolor=255)
    assert deskew_angle(slanted) == pytest.approx(-angle, abs=0.3)
    assert deskew_angle(text_image()) == 0.0
