"""Opening documents and rendering their pages, without Tesseract."""

from __future__ import annotations

import pytest
from drawing import draw_text, encode, encode_pages
from PIL import Image
from synthral_ocr_tesseract.documents import open_document, select_pages

from synthral_sdk.errors import InputInvalid


@pytest.fixture(scope="module")
def text() -> Image.Image:
    return draw_text([["Hello"]], size=(300, 120))


@pytest.mark.parametrize(
    ("fmt", "media_type", "kind"),
    [
        ("PNG", "image/png", "PNG image"),
        ("JPEG", "image/jpeg", "JPEG image"),
        ("BMP", "image/bmp", "BMP image"),
        ("WEBP", "image/webp", "WEBP image"),
        ("TIFF", "image/tiff", "TIFF image"),
    ],
)
def test_opens_images_of_each_accepted_format(text: Image.Image, fmt: str, media_type: str, kind: str) -> None:
    with open_document(encode(text, fmt), media_type=media_type, dpi=300) as document:
        assert (document.kind, document.page_count) == (kind, 1)
        page = document.render(1)
    assert (page.number, page.image.size) == (1, text.size)
    assert page.image.mode in ("1", "L", "RGB")


def test_tiff_pages_are_the_document_pages(text: Image.Image) -> None:
    frames = [text, text.rotate(180), text.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    with open_document(encode_pages(frames, "TIFF"), media_type="image/tiff", dpi=300) as document:
        assert document.page_count == 3
        assert document.render(2).image.tobytes() == frames[1].tobytes()


def test_a_pdf_is_known_by_its_header_whatever_its_media_type() -> None:
    page_image = draw_text([["Hello"]], size=(300, 100))  # 3 x 1 inches at 100 dpi
    data = encode_pages([page_image, page_image], "PDF", resolution=100.0)
    with open_document(data, media_type="application/octet-stream", dpi=200) as document:
        assert (document.kind, document.page_count) == ("PDF", 2)
        page = document.render(2)
    assert (page.number, page.image.size, page.dpi) == (2, (600, 200), 200)
    assert page.image.mode == "L"


def test_keeps_an_images_resolution_when_it_is_plausible(text: Image.Image) -> None:
    for dpi, expected in (((300, 300), 300), ((1, 1), None)):
        with open_document(encode(text, "PNG", dpi=dpi), media_type="image/png", dpi=300) as document:
            assert document.render(1).dpi == expected


def test_puts_transparent_images_on_white_paper() -> None:
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    with open_document(encode(transparent, "PNG"), media_type="image/png", dpi=300) as document:
        image = document.render(1).image
    assert (image.mode, image.getpixel((5, 5))) == ("RGB", (255, 255, 255))


def test_scales_16_bit_grey_to_8_bits() -> None:
    grey = Image.new("I;16", (40, 40), 40000)
    with open_document(encode(grey, "PNG"), media_type="image/png", dpi=300) as document:
        image = document.render(1).image
    assert (image.mode, image.getpixel((5, 5))) == ("L", 40000 // 256)


def test_turns_photos_upright_as_their_exif_says(text: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; rotate 90 degrees clockwise to view
    data = encode(text.convert("RGB"), "JPEG", exif=exif.tobytes())
    with open_document(data, media_type="image/jpeg", dpi=300) as document:
        assert document.render(1).image.size == (120, 300)


def test_select_pages_defaults_to_all_and_keeps_the_requested_order(text: Image.Image) -> None:
    with open_document(encode_pages([text] * 3, "TIFF"), media_type="image/tiff", dpi=300) as document:
        assert select_pages(None, document) == [1, 2, 3]
        assert select_pages([3, 1, 3], document) == [3, 1]
        with pytest.raises(InputInvalid, match="asks for page 4, but the TIFF image has 3 pages"):
            select_pages([1, 4], document)


def test_rejects_a_pdf_page_too_large_to_render() -> None:
    # 1000 pixels saved at 1 dpi make a page 1000 inches wide.
    data = encode(Image.new("L", (1000, 1000), 255), "PDF", resolution=1.0)
    with (
        open_document(data, media_type="application/pdf", dpi=300) as document,
        pytest.raises(InputInvalid, match="lower the config field 'dpi'"),
    ):
        document.render(1)


def test_the_content_decides_not_the_declared_media_type(text: Image.Image) -> None:
    with open_document(encode(text, "PNG"), media_type="application/pdf", dpi=300) as document:
        assert document.kind == "PNG image"
    with pytest.raises(InputInvalid, match="PDFium cannot read it"):
        open_document(b"no header, but declared a PDF", media_type="application/pdf", dpi=300)


def test_rejects_formats_it_does_not_read(text: Image.Image) -> None:
    with pytest.raises(InputInvalid, match="neither a PDF nor an image of an accepted format") as caught:
        open_document(encode(text, "GIF"), media_type="image/gif", dpi=300)
    assert "'image/gif'" in caught.value.message
