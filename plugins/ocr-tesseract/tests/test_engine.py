"""The ``tesseract`` engine on real documents with the real Tesseract, called as the runner calls it."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from drawing import PDF_DPI, draw_text, encode, request, words
from PIL import Image
from synthral_ocr_tesseract import PAGE_SEPARATOR, TesseractConfig, TesseractEngine

from synthral_sdk import BBox, BlobRef, BlobStore, Context, OCRRequest, OCRResult
from synthral_sdk.errors import Cancelled, ConfigInvalid, DeadlineExceeded, InputInvalid, NonRetryableError
from synthral_sdk.testing import call

ENGINE = TesseractEngine()
PDF_CONFIG = {"dpi": PDF_DPI}


def recognize(
    blobs: BlobStore, document: BlobRef, *, config: Mapping[str, object] | None = None, **fields: object
) -> OCRResult:
    return OCRResult.model_validate(call(ENGINE, request(document, **fields), config=dict(config or {}), blobs=blobs))


def inside(inner: BBox, outer: BBox) -> bool:
    return (
        outer.x <= inner.x
        and outer.y <= inner.y
        and inner.x + inner.width <= outer.x + outer.width
        and inner.y + inner.height <= outer.y + outer.height
    )


@pytest.fixture(scope="module")
def png_result(blobs: BlobStore, png: BlobRef) -> OCRResult:
    return recognize(blobs, png)


# -- what it reads ------------------------------------------------------------------------


def test_reads_the_words_of_an_image(png_result: OCRResult) -> None:
    assert {"invoice", "4721", "total", "amount", "due", "thank", "shopping"} <= words(png_result.text)


def test_names_tesseract_and_its_version(png_result: OCRResult) -> None:
    assert re.fullmatch(r"tesseract \d+\.\d+\.\d+\S*", png_result.engine)


def test_pages_have_the_image_size_and_words_boxes_inside_them(png_result: OCRResult, page_image: Image.Image) -> None:
    [page] = png_result.pages
    assert (page.number, page.width, page.height) == (1, *page_image.size)
    whole = BBox(x=0, y=0, width=page.width, height=page.height)
    page_words = [word for block in page.blocks for word in block.words]
    assert page_words
    for word in page_words:
        assert 0.0 <= word.confidence <= 1.0
        assert word.bbox.width > 0
        assert word.bbox.height > 0
        assert inside(word.bbox, whole), word


def test_groups_words_into_blocks_of_lines(png_result: OCRResult) -> None:
    [page] = png_result.pages
    assert len(page.blocks) == 2, [block.text for block in page.blocks]
    first, second = page.blocks
    assert [words(line) for line in first.text.split("\n")] == [
        {"invoice", "number", "4721"},
        {"total", "amount", "due"},
    ]
    assert words(second.text) == {"thank", "you", "for", "shopping"}
    for block in page.blocks:
        assert block.text.split() == [word.text for word in block.words]
        assert block.confidence == pytest.approx(statistics.mean(word.confidence for word in block.words))
        assert all(inside(word.bbox, block.bbox) for word in block.words)
    assert page.text == "\n\n".join(block.text for block in page.blocks)
    assert png_result.text == page.text


def test_reads_a_jpeg(blobs: BlobStore, page_image: Image.Image) -> None:
    jpeg = blobs.put(encode(page_image.convert("RGB"), "JPEG", quality=85), media_type="image/jpeg")
    assert {"invoice", "total", "shopping"} <= words(recognize(blobs, jpeg).text)


def test_reads_every_page_of_a_pdf(blobs: BlobStore, pdf: BlobRef) -> None:
    result = recognize(blobs, pdf, config=PDF_CONFIG)
    assert [(page.number, page.width, page.height) for page in result.pages] == [(1, 800, 200), (2, 800, 200)]
    assert "alpha" in words(result.pages[0].text)
    assert "bravo" in words(result.pages[1].text)
    assert result.text == PAGE_SEPARATOR.join(page.text for page in result.pages)


def test_renders_pdf_pages_at_the_configured_dpi(blobs: BlobStore, pdf: BlobRef) -> None:
    result = recognize(blobs, pdf, pages=[1])  # the default, 300 dpi: three times the saved size
    [page] = result.pages
    assert (page.width, page.height) == (2400, 600)
    assert "alpha" in words(page.text)


def test_reads_only_the_requested_pages_in_their_order(blobs: BlobStore, pdf: BlobRef, tiff: BlobRef) -> None:
    result = recognize(blobs, pdf, config=PDF_CONFIG, pages=[2])
    assert [page.number for page in result.pages] == [2]
    assert "bravo" in words(result.text)
    assert "alpha" not in words(result.text)

    result = recognize(blobs, tiff, pages=[3, 1])
    assert [page.number for page in result.pages] == [3, 1]
    assert "cherry" in words(result.pages[0].text)
    assert "apple" in words(result.pages[1].text)


def test_min_confidence_drops_less_confident_words(blobs: BlobStore, png: BlobRef, png_result: OCRResult) -> None:
    confidences = sorted(word.confidence for block in png_result.pages[0].blocks for word in block.words)
    assert confidences[0] < confidences[-1], "the test needs words of different confidence"
    threshold = statistics.median(confidences)

    result = recognize(blobs, png, config={"min_confidence": threshold})

    kept = [word for block in result.pages[0].blocks for word in block.words]
    expected = [word for block in png_result.pages[0].blocks for word in block.words if word.confidence >= threshold]
    assert kept == expected
    assert 0 < len(kept) < len(confidences)
    for block in result.pages[0].blocks:
        assert block.confidence == pytest.approx(statistics.mean(word.confidence for word in block.words))


def test_psm_chooses_how_the_page_is_segmented(blobs: BlobStore, png: BlobRef) -> None:
    one_block = recognize(blobs, png, config={"psm": 6})
    assert len(one_block.pages[0].blocks) == 1
    assert len(one_block.pages[0].blocks[0].text.split("\n")) == 3

    sparse = recognize(blobs, png, config={"psm": 11})
    assert len(sparse.pages[0].blocks) >= 3


def test_request_languages_override_the_config(blobs: BlobStore, png: BlobRef) -> None:
    # 'fra' is not installed, so reading succeeds only if the request's 'eng' wins.
    result = recognize(blobs, png, config={"languages": ["fra"]}, languages=["eng"])
    assert "invoice" in words(result.text)


def test_reads_with_language_models_from_tessdata_dir(
    blobs: BlobStore, png: BlobRef, tessdata: Path, tmp_path: Path
) -> None:
    # A user's own model, under a name the system does not know and in a subdirectory,
    # which is how Tesseract's script models are laid out.
    (tmp_path / "script").mkdir()
    (tmp_path / "script" / "Mine.traineddata").symlink_to(tessdata / "eng.traineddata")
    config = {"tessdata_dir": str(tmp_path), "languages": ["script/Mine"]}

    assert "invoice" in words(recognize(blobs, png, config=config).text)

    with pytest.raises(ConfigInvalid) as caught:
        recognize(blobs, png, config={**config, "languages": ["eng"]})
    assert "installed: script/Mine" in caught.value.message
    assert str(tmp_path) in caught.value.message


def test_config_accepts_tesseracts_plus_notation() -> None:
    assert TesseractConfig(languages=["eng+deu", "deu", " fra "]).languages == ["eng", "deu", "fra"]


def test_serves_calls_for_two_tesseract_binaries_at_once(blobs: BlobStore, png: BlobRef, tmp_path: Path) -> None:
    # pytesseract keeps the binary in a process-wide setting; calls configured with another
    # binary must not switch it under a running call.
    tesseract = shutil.which("tesseract")
    assert tesseract
    other = tmp_path / "tesseract-copy"
    other.symlink_to(tesseract)
    configs = [{"tesseract_cmd": tesseract}, {"tesseract_cmd": str(other)}] * 2
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda config: recognize(blobs, png, config=config), configs))
    assert all(result.pages == results[0].pages for result in results)


# -- cancellation, deadlines and progress --------------------------------------------------


def test_stops_between_pages_when_cancelled(blobs: BlobStore, pdf: BlobRef) -> None:
    cancel = threading.Event()
    reports: list[tuple[float | None, str]] = []

    def progress(fraction: float | None, message: str) -> None:
        reports.append((fraction, message))
        cancel.set()  # the caller gives up once the first page is done

    context = Context(blobs=blobs, progress=progress, cancel_event=cancel)
    with pytest.raises(Cancelled):
        asyncio.run(ENGINE.call("recognize", PDF_CONFIG, request(pdf), context))
    assert reports == [(0.5, "page 1 of 2")]


def test_progress_names_the_document_page_when_reading_a_selection(blobs: BlobStore, tiff: BlobRef) -> None:
    reports: list[tuple[float | None, str]] = []
    context = Context(blobs=blobs, progress=lambda fraction, message: reports.append((fraction, message)))
    asyncio.run(ENGINE.call("recognize", {}, request(tiff, pages=[3]), context))
    assert reports == [(1.0, "page 1 of 1 (page 3)")]


def test_stops_when_the_deadline_has_passed(blobs: BlobStore, pdf: BlobRef) -> None:
    with pytest.raises(DeadlineExceeded):
        call(ENGINE, request(pdf), config=PDF_CONFIG, blobs=blobs, timeout=0)


def test_kills_tesseract_when_the_deadline_passes_mid_page(blobs: BlobStore) -> None:
    # A dense A4 page at 300 dpi takes Tesseract seconds; the call may take one.
    lines = [f"Line {n} of a long page of text that keeps Tesseract busy" for n in range(60)]
    dense = blobs.put(encode(draw_text([lines], size=(2480, 3508)), "PNG"), media_type="image/png")
    with pytest.raises(DeadlineExceeded, match="while tesseract was reading a page"):
        call(ENGINE, request(dense), blobs=blobs, timeout=1.0)


# -- bad input -----------------------------------------------------------------------------


def test_rejects_bytes_that_are_no_document(blobs: BlobStore) -> None:
    junk = blobs.put(b"GIF89a is not accepted, nor is this text", media_type="image/gif")
    with pytest.raises(InputInvalid) as caught:
        recognize(blobs, junk)
    assert "neither a PDF nor an image" in caught.value.message
    assert "PDF, PNG, JPEG, TIFF" in caught.value.message


def test_rejects_a_truncated_image(blobs: BlobStore, page_image: Image.Image) -> None:
    data = encode(page_image, "PNG")
    truncated = blobs.put(data[: len(data) // 2], media_type="image/png")
    with pytest.raises(InputInvalid, match="damaged or truncated"):
        recognize(blobs, truncated)


def test_rejects_a_corrupt_pdf(blobs: BlobStore) -> None:
    corrupt = blobs.put(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthe rest is missing", media_type="application/pdf")
    with pytest.raises(InputInvalid, match="PDFium cannot read it"):
        recognize(blobs, corrupt)


@pytest.mark.parametrize("pages", [[3], [1, 0]])
def test_rejects_pages_outside_the_document(blobs: BlobStore, pdf: BlobRef, pages: list[int]) -> None:
    with pytest.raises(InputInvalid) as caught:
        recognize(blobs, pdf, config=PDF_CONFIG, pages=pages)
    assert "the PDF has 2 pages" in caught.value.message
    assert caught.value.details["pageCount"] == 2


def test_rejects_a_blob_missing_from_the_store(blobs: BlobStore, tmp_path: Path, page_image: Image.Image) -> None:
    elsewhere = BlobStore(tmp_path).put(encode(draw_text([["only elsewhere"]]), "PNG"), media_type="image/png")
    with pytest.raises(InputInvalid, match="not in the blob store"):
        recognize(blobs, elsewhere)


def test_rejects_inline_bytes(blobs: BlobStore) -> None:
    with pytest.raises(InputInvalid, match="document"):
        call(ENGINE, {"document": "iVBORw0KGgoAAAANSUhEUgAAAAE="}, blobs=blobs)


def test_rejects_a_language_that_is_not_installed(blobs: BlobStore, png: BlobRef) -> None:
    with pytest.raises(InputInvalid) as caught:
        recognize(blobs, png, languages=["eng", "deu"])
    message = caught.value.message
    assert "input field 'languages' names 'deu'" in message
    assert "installed: eng, osd" in message
    assert "apt-get install tesseract-ocr-deu" in message
    assert "tessdata_dir" in message
    assert caught.value.details["missing"] == ["deu"]


def test_rejects_a_configured_language_that_is_not_installed(blobs: BlobStore, png: BlobRef) -> None:
    with pytest.raises(ConfigInvalid, match=r"config field 'languages' names 'chi_sim'.*tesseract-ocr-chi-sim"):
        recognize(blobs, png, config={"languages": ["chi_sim"]})


def test_rejects_a_malformed_language_code(blobs: BlobStore, png: BlobRef) -> None:
    with pytest.raises(InputInvalid, match="'en g' is not a Tesseract language code"):
        recognize(blobs, png, languages=["en g"])


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"psm": 14}, "psm"),
        ({"psm": 0}, "psm"),
        ({"oem": 4}, "oem"),
        ({"dpi": 50}, "dpi"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"languages": []}, "languages"),
        ({"languages": ["../eng"]}, "languages"),
        ({"tessdata_dir": "/no/such/dir"}, "tessdata_dir"),
        ({"colour": "grey"}, "colour"),
    ],
)
def test_rejects_bad_config(blobs: BlobStore, png: BlobRef, config: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigInvalid, match=f"config field '{field}'"):
        recognize(blobs, png, config=config)


def test_rejects_an_engine_mode_the_language_data_lacks(blobs: BlobStore, png: BlobRef) -> None:
    # Debian's eng.traineddata holds the LSTM model only; the legacy engine cannot load it.
    with pytest.raises(ConfigInvalid, match="config field 'oem' is 0, which needs the legacy engine"):
        recognize(blobs, png, config={"oem": 0})


def test_rejects_damaged_language_data(blobs: BlobStore, png: BlobRef, tmp_path: Path) -> None:
    (tmp_path / "broken.traineddata").write_bytes(b"not a model")
    with pytest.raises(ConfigInvalid, match="cannot load the language data for broken"):
        recognize(blobs, png, config={"tessdata_dir": str(tmp_path), "languages": ["broken"]})


# -- a missing or wrong binary ----------------------------------------------------------------


def test_names_the_fix_when_tesseract_is_not_on_path(
    blobs: BlobStore, png: BlobRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NonRetryableError) as caught:
        recognize(blobs, png)
    assert "apt-get install tesseract-ocr" in caught.value.message
    assert "tesseract_cmd" in caught.value.message
    assert not caught.value.retryable


def test_names_the_fix_when_tesseract_cmd_is_missing(blobs: BlobStore, png: BlobRef) -> None:
    with pytest.raises(NonRetryableError, match=r"'tesseract_cmd' is '/opt/nowhere/tesseract'.*apt-get install"):
        recognize(blobs, png, config={"tesseract_cmd": "/opt/nowhere/tesseract"})


def test_names_the_fix_when_tesseract_cmd_is_not_tesseract(blobs: BlobStore, png: BlobRef) -> None:
    true = shutil.which("true")
    assert true
    with pytest.raises(NonRetryableError, match="does not answer '--version' like tesseract"):
        recognize(blobs, png, config={"tesseract_cmd": true})


def test_blocks_carry_lines_and_reading_order_column_by_column(blobs: BlobStore) -> None:
    names = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
    column = (1100, 80 + 70 * 5)
    image = Image.new("L", (2 * column[0] + 250, column[1]), 255)
    image.paste(draw_text([tuple(f"{name} left side text" for name in names[:5])], size=column), (0, 0))
    image.paste(draw_text([tuple(f"{name} right side text" for name in names[5:])], size=column), (column[0] + 250, 0))
    ref = blobs.put(encode(image, "PNG"), media_type="image/png")
    result = TesseractEngine().recognize(OCRRequest(document=ref), TesseractConfig(), Context(blobs=blobs))
    [page] = result.pages
    assert [block.order for block in page.blocks] == list(range(len(page.blocks)))
    lines = [line.text.lower() for block in page.blocks for line in block.lines]
    assert (
        lines.index("alpha left side text")
        < lines.index("echo left side text")
        < lines.index("foxtrot right side text")
    )
    for block in page.blocks:
        assert [word for line in block.lines for word in line.words] == block.words
