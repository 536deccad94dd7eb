"""Test documents drawn with Pillow, and a blob store to hand them to the engine."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from drawing import PARAGRAPH_ONE, PARAGRAPH_TWO, PDF_DPI, PDF_PAGES, TIFF_PAGES, draw_text, encode, encode_pages
from PIL import Image

from synthral_sdk import BlobRef, BlobStore


@pytest.fixture(scope="session")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    return BlobStore(tmp_path_factory.mktemp("blobs"))


@pytest.fixture(scope="session")
def page_image() -> Image.Image:
    return draw_text([PARAGRAPH_ONE, PARAGRAPH_TWO])


@pytest.fixture(scope="session")
def png(blobs: BlobStore, page_image: Image.Image) -> BlobRef:
    return blobs.put(encode(page_image, "PNG"), media_type="image/png", name="scan.png")


@pytest.fixture(scope="session")
def pdf(blobs: BlobStore) -> BlobRef:
    pages = [draw_text([lines], size=(800, 200)) for lines in PDF_PAGES]
    return blobs.put(encode_pages(pages, "PDF", resolution=float(PDF_DPI)), media_type="application/pdf")


@pytest.fixture(scope="session")
def tiff(blobs: BlobStore) -> BlobRef:
    pages = [draw_text([lines], size=(800, 200)) for lines in TIFF_PAGES]
    return blobs.put(encode_pages(pages, "TIFF", compression="tiff_lzw"), media_type="image/tiff")


@pytest.fixture(scope="session")
def tessdata() -> Path:
    """The directory the installed tesseract reads its language models from."""
    tesseract = shutil.which("tesseract")
    assert tesseract, "tesseract is not installed; run 'apt-get install tesseract-ocr'"
    listing = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True, check=True).stdout
    found = re.search(r'languages in "([^"]+)"', listing)
    assert found, f"tesseract did not name its tessdata directory: {listing}"
    assert "eng" in listing.split(), f"no 'eng' language model; run 'apt-get install tesseract-ocr-eng': {listing}"
    return Path(found.group(1))
