"""Splitting documents by tokens, characters and Markdown headings, with overlap."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from pydantic import ValidationError

from synthral.errors import InputInvalid
from synthral.services.rag_chunking import ChunkSettings, split_text, token_counter

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_token_chunks_stay_within_the_size_and_cover_the_text() -> None:
    text = (DOCS / "engine.md").read_text()
    count = token_counter()
    chunks = split_text(text, ChunkSettings(strategy="tokens", size=128, overlap=16))
    assert len(chunks) > 5
    assert all(count(c.text) <= 128 for c in chunks)
    assert max(count(c.text) for c in chunks) > 90, "chunks are filled, not cut at the tokenizer's own limit"
    for chunk in chunks:
        assert text[chunk.start : chunk.start + len(chunk.text)] == chunk.text
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_overlap() -> None:
    text = " ".join(f"word{i}" for i in range(600))
    chunks = split_text(text, ChunkSettings(strategy="characters", size=200, overlap=50))
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.start + len(before.text), "the next chunk starts inside the previous one"


def test_character_chunks_respect_the_size() -> None:
    text = "\n\n".join("A paragraph about something. " * 5 for _ in range(30))
    chunks = split_text(text, ChunkSettings(strategy="characters", size=300, overlap=0))
    assert chunks and all(len(c.text) <= 300 for c in chunks)


def test_markdown_chunks_carry_their_headings() -> None:
    text = "# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n## Use\n\nCall the API.\n"
    chunks = split_text(text, ChunkSettings(strategy="markdown", size=64, overlap=0))
    by_heading = {c.text.splitlines()[0].strip(): c for c in chunks}
    assert by_heading["## Install"].headings == {"h1": "Guide", "h2": "Install"}
    assert by_heading["## Use"].headings == {"h1": "Guide", "h2": "Use"}
    assert "Run the installer." in by_heading["## Install"].text
    assert text[by_heading["## Use"].start :].startswith("## Use")


def test_blank_text_gives_no_chunks() -> None:
    assert split_text("  \n\n ") == []


def test_an_overlap_as_large_as_the_size_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"overlap \(64\) must be smaller than size \(64\)"):
        ChunkSettings(size=64, overlap=64)


def test_a_tokenizer_file_that_is_not_one_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{}")
    with pytest.raises(InputInvalid) as caught:
        split_text("hello", ChunkSettings(tokenizer=str(bad)))
    assert "tokenizer" in caught.value.message and str(bad) in caught.value.message
