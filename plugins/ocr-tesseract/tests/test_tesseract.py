"""Finding the Tesseract binary and asking it what it knows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from synthral_ocr_tesseract.tesseract import TesseractBinary, find_tesseract

from synthral_sdk.errors import NonRetryableError


def test_finds_tesseract_on_path_or_by_name() -> None:
    path = find_tesseract(None)
    assert Path(path).is_absolute()
    assert find_tesseract("tesseract") == path
    assert find_tesseract(path) == path


def test_reports_the_version_and_installed_languages() -> None:
    binary = TesseractBinary(find_tesseract(None))
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", binary.version())
    assert {"eng", "osd"} <= set(binary.languages())


def test_lists_every_model_in_a_tessdata_dir(tessdata: Path, tmp_path: Path) -> None:
    # pytesseract.get_languages would drop 'script/Latin' and 'Fraktur'; Tesseract reads them.
    (tmp_path / "script").mkdir()
    for name in ("script/Latin", "Fraktur", "deu_latf"):
        (tmp_path / f"{name}.traineddata").symlink_to(tessdata / "eng.traineddata")
    binary = TesseractBinary(find_tesseract(None), tessdata_dir=tmp_path)
    assert binary.languages() == ["Fraktur", "deu_latf", "script/Latin"]


def test_a_missing_binary_is_not_retryable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("tesseract") is None
    with pytest.raises(NonRetryableError, match="not found on PATH"):
        find_tesseract(None)
