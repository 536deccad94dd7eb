"""Splitting documents into chunks: by tokens, by characters, or by Markdown headings.

The splitting is LangChain's text splitters (recursive on paragraphs, lines, sentences and
words, with overlap). Tokens are counted with a Hugging Face ``tokenizer.json``; the default
is the WordPiece tokenizer of bert-base-uncased shipped with the host, which is also the
tokenizer of the default embedder (MiniLM), so a 256-token chunk is 256 of its tokens.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tokenizers import Tokenizer

from synthral.errors import InputInvalid

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

__all__ = ["DEFAULT_TOKENIZER", "Chunk", "ChunkSettings", "split_text", "token_counter"]

DEFAULT_TOKENIZER = Path(__file__).resolve().parent / "rag_data" / "bert-base-uncased.tokenizer.json"

_HEADINGS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]


class ChunkSettings(BaseModel):
    """How a document is split."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["tokens", "characters", "markdown"] = Field(
        default="tokens",
        description="'tokens' and 'characters' split recursively (paragraphs, lines, sentences, words); "
        "'markdown' first splits at headings (h1-h4), then each section by tokens.",
    )
    size: int = Field(default=256, ge=16, le=8192, description="Chunk size, in tokens or characters.")
    overlap: int = Field(default=32, ge=0, le=4096, description="Tokens or characters repeated between chunks.")
    tokenizer: str | None = Field(
        default=None, description="A Hugging Face tokenizer.json to count tokens; empty: bert-base-uncased."
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Self:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


@dataclass(frozen=True)
class Chunk:
    """One piece of a document."""

    index: int
    text: str
    start: int
    headings: dict[str, str] = field(default_factory=dict)


@functools.cache
def _tokenizer(path: str) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as exc:  # noqa: BLE001 -- tokenizers raises a bare Exception for any bad file
        raise InputInvalid(
            f"chunking field 'tokenizer': {path} is not a Hugging Face tokenizer.json ({exc}); "
            "give the path of one, or leave it empty for bert-base-uncased",
            details={"field": "tokenizer"},
        ) from None
    tokenizer.no_truncation()  # a model's tokenizer.json often truncates at its sequence length
    tokenizer.no_padding()
    return tokenizer


def token_counter(tokenizer: str | None = None) -> functools.partial[int]:
    """A function counting the tokens of a text (no special tokens)."""
    path = str(Path(tokenizer).expanduser()) if tokenizer else str(DEFAULT_TOKENIZER)
    return functools.partial(_count, _tokenizer(path))


def _count(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def _splitter(settings: ChunkSettings) -> RecursiveCharacterTextSplitter:
    # LangChain's splitters bring langchain_core (a third of a second): loaded on first use.
    from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: PLC0415

    if settings.strategy == "characters":
        return RecursiveCharacterTextSplitter(
            chunk_size=settings.size, chunk_overlap=settings.overlap, add_start_index=True
        )
    return RecursiveCharacterTextSplitter(
        chunk_size=settings.size,
        chunk_overlap=settings.overlap,
        length_function=token_counter(settings.tokenizer),
    )


def _offsets(text: str, pieces: list[str], start: int = 0) -> list[int]:
    """Where each piece begins in ``text``, searching forward (pieces overlap and come in order)."""
    found = []
    cursor = start
    for piece in pieces:
        at = text.find(piece, cursor)
        if at < 0:
            at = text.find(piece, start)
        found.append(at)
        if at >= 0:
            cursor = at + 1
    return found


def split_text(text: str, settings: ChunkSettings | None = None) -> list[Chunk]:
    """Split ``text`` into chunks, in order; an empty or blank text gives none.

    ``Chunk.start`` is the chunk's offset in ``text``; for Markdown chunks (whose heading
    lines the splitter rewrites) it is the offset of the section the chunk comes from.
    """
    settings = settings or ChunkSettings()
    if not text.strip():
        return []
    splitter = _splitter(settings)
    if settings.strategy != "markdown":
        pieces = splitter.split_text(text)
        return [
            Chunk(index=i, text=piece, start=at)
            for i, (piece, at) in enumerate(zip(pieces, _offsets(text, pieces), strict=True))
        ]
    from langchain_text_splitters import MarkdownHeaderTextSplitter  # noqa: PLC0415

    sections = MarkdownHeaderTextSplitter(_HEADINGS, strip_headers=False).split_text(text)
    chunks: list[Chunk] = []
    cursor = 0
    for section in sections:
        headings = {str(k): str(v) for k, v in section.metadata.items()}
        first_line = section.page_content.split("\n", 1)[0].rstrip()
        at = text.find(first_line, cursor)
        if at >= 0:
            cursor = at
        for piece in splitter.split_text(section.page_content):
            chunks.append(Chunk(index=len(chunks), text=piece, start=max(at, 0), headings=headings))
    return chunks
