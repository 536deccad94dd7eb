"""The rapidocr engine on real PP-OCR models: images, columns, PDFs, turned and slanted pages."""

from __future__ import annotations

import pytest
from drawing import LEFT_COLUMN, LINES, RIGHT_COLUMN, draw_text, encode, two_columns, words
from PIL import Image
from synthral_ocr_rapidocr import RapidOCRConfig, RapidOCREngine

from synthral_sdk import BlobStore, Context, OCRRequest, OCRResult
from synthral_sdk.errors import InputInvalid

ENGINE = RapidOCREngine()


def read(blobs: BlobStore, context: Context, data: bytes, media_type: str, **config: object) -> OCRResult:
    ref = blobs.put(data, media_type=media_type)
    return ENGINE.recognize(OCRRequest(document=ref), RapidOCRConfig.model_validate(config), context)


def test_reads_words_with_boxes_lines_and_blocks(blobs: BlobStore, context: Context) -> None:
    result = read(blobs, context, encode(draw_text(LINES), "PNG"), "image/png")
    assert {"invoice", "4721", "total", "due"} <= words(result.text)
    assert result.engine.startswith("rapidocr ")
    [page] = result.pages
    assert (page.width, page.height, page.source) == (1000, 300, "ocr")
    lines = [line for block in page.blocks for line in block.lines]
    assert [line.text.lower() for line in lines] == [line.lower() for line in LINES]
    for word in (word for line in lines for word in line.words):
        assert 0 <= word.bbox.x < 1000 and 0 <= word.bbox.y < 300 and word.bbox.width > 0
        assert 0.5 <= word.confidence <= 1
    invoice = lines[0].words[0]
    assert 30 <= invoice.bbox.x <= 50 and 30 <= invoice.bbox.y <= 60  # drawn at (40, 40)


def test_reads_a_two_column_page_column_by_column(blobs: BlobStore, context: Context) -> None:
    result = read(blobs, context, encode(two_columns(), "PNG"), "image/png")
    [page] = result.pages
    texts = [block.text.lower() for block in page.blocks]
    assert texts == ["\n".join(LEFT_COLUMN), "\n".join(RIGHT_COLUMN)]
    assert [block.order for block in page.blocks] == [0, 1]


def test_turns_a_page_on_its_side_upright(blobs: BlobStore, context: Context) -> None:
    sideways = draw_text([*LINES, "Thank you for shopping"], size=(1000, 400)).rotate(90, expand=True)
    result = read(blobs, context, encode(sideways, "PNG"), "image/png")
    assert {"invoice", "4721", "shopping"} <= words(result.text)
    assert result.pages[0].rotation in (90, 270)


def test_straightens_a_slanted_scan(blobs: BlobStore, context: Context) -> None:
    slanted = draw_text(LINES, size=(1000, 400)).rotate(4, expand=True, fillcolor=255)
    result = read(blobs, context, encode(slanted, "PNG"), "image/png")
    assert result.pages[0].skew == pytest.approx(-4, abs=0.5)
    assert {"invoice", "4721", "total", "due"} <= words(result.text)


def test_reads_every_frame_of_a_tiff_in_order_and_scales_to_the_dpi(blobs: BlobStore, context: Context) -> None:
    frames = [draw_text([f"page {name} here"]) for name in ("apple", "banana")]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:], dpi=(150, 150))
    result = read(blobs, context, data, "image/tiff", dpi=300)
    assert ["apple" in result.pages[0].text, "banana" in result.pages[1].text] == [True, True]
    assert [page.number for page in result.pages] == [1, 2]
    assert (result.pages[0].width, result.pages[0].dpi) == (2000, 300)


def test_reads_heic_photos(blobs: BlobStore, context: Context) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    del pillow_heif
    result = read(blobs, context, encode(draw_text(LINES).convert("RGB"), "HEIF", quality=95), "image/heic")
    assert {"invoice", "4721"} <= words(result.text)


def test_refuses_languages_the_shipped_model_does_not_read(blobs: BlobStore, context: Context) -> None:
    with pytest.raises(ValueError, match="'ar' not read by the model"):
        RapidOCRConfig(languages=["ar"])
    ref = blobs.put(encode(draw_text(LINES), "PNG"), media_type="image/png")
    with pytest.raises(InputInvalid, match="input field 'languages'"):
        ENGINE.recognize(OCRRequest(document=ref, languages=["kor"]), RapidOCRConfig(), context)
    assert RapidOCRConfig(languages=["eng", "deu"]).languages == ["en", "de"]


def test_an_empty_page_reads_as_no_text(blobs: BlobStore, context: Context) -> None:
    result = read(blobs, context, encode(Image.new("L", (400, 300), 255), "PNG"), "image/png")
    assert result.text == ""
    assert result.pages[0].blocks == []
