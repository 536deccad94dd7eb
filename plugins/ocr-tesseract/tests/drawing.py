"""Test documents drawn with Pillow: clear text in Pillow's scalable built-in font."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import cast

from PIL import Image, ImageDraw, ImageFont

from synthral_sdk import BlobRef, JSONObject, JSONValue, OCRRequest

# Words Tesseract reads reliably in Pillow's built-in font; tests look for them, lower-cased.
PARAGRAPH_ONE = ("Invoice number 4721", "Total amount due")
PARAGRAPH_TWO = ("Thank you for shopping",)
PDF_PAGES = (("First page alpha",), ("Second page bravo",))
TIFF_PAGES = (("Page one apple",), ("Page two banana",), ("Page three cherry",))

#: Resolution the test PDFs are saved at and rendered at: a page is then exactly the size
#: of the image it was made from, and small enough to read quickly.
PDF_DPI = 100


def draw_text(paragraphs: Sequence[Sequence[str]], *, size: tuple[int, int] = (1000, 420)) -> Image.Image:
    """Black text in Pillow's scalable built-in font on white; paragraphs far apart."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    y = 40
    for lines in paragraphs:
        for line in lines:
            draw.text((40, y), line, font=font, fill=0)
            y += 70
        y += 90
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def encode_pages(images: Sequence[Image.Image], fmt: str, **options: object) -> bytes:
    return encode(images[0], fmt, save_all=True, append_images=list(images[1:]), **options)


def words(text: str) -> set[str]:
    return {word.strip(".,:;").lower() for word in text.split()}


def request(document: BlobRef, **fields: object) -> JSONObject:
    """An OCR request as JSON, checked against the SDK's model."""
    payload: JSONObject = {"document": document.to_json(), **cast(dict[str, JSONValue], fields)}
    OCRRequest.model_validate(payload)
    return payload
