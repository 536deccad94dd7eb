"""Test documents drawn with Pillow: clear text in Pillow's scalable built-in font."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import cast

from PIL import Image, ImageDraw, ImageFont

from synthral_sdk import BlobRef, JSONObject, JSONValue, OCRRequest

LINES = ("Invoice number 4721", "Total amount due")
LEFT_COLUMN = ("alpha column left", "bravo column left", "charlie column left")
RIGHT_COLUMN = ("delta column right", "echo column right", "foxtrot column right")


def draw_text(lines: Sequence[str], *, size: tuple[int, int] = (1000, 300), x: int = 40, y: int = 40) -> Image.Image:
    """Black text on white, one line every 70 pixels."""
    image = Image.new("L", size, 255)
    draw_lines(image, lines, x=x, y=y)
    return image


def draw_lines(image: Image.Image, lines: Sequence[str], *, x: int, y: int) -> None:
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for index, line in enumerate(lines):
        draw.text((x, y + 70 * index), line, font=font, fill=0)


def two_columns() -> Image.Image:
    image = Image.new("L", (1400, 400), 255)
    draw_lines(image, LEFT_COLUMN, x=40, y=40)
    draw_lines(image, RIGHT_COLUMN, x=760, y=40)
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def words(text: str) -> set[str]:
    return {word.strip(".,:;").lower() for word in text.split()}


def request(document: BlobRef, **fields: object) -> JSONObject:
    """An OCR request as JSON, checked against the SDK's model."""
    payload: JSONObject = {"document": document.to_json(), **cast(dict[str, JSONValue], fields)}
    OCRRequest.model_validate(payload)
    return payload
