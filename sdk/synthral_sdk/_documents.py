"""OCR engines: documents in, pages of blocks of words with boxes and confidences out."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Generic, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context
from synthral_sdk.types import BlobRef

__all__ = [
    "BBox",
    "OCRBlock",
    "OCREngine",
    "OCRLine",
    "OCRPage",
    "OCRRequest",
    "OCRResult",
    "OCRTable",
    "OCRTableCell",
    "OCRWord",
]


class BBox(BaseModel):
    """An axis-aligned box in pixels of the page image, origin top left."""

    x: float
    y: float
    width: float
    height: float


class OCRWord(BaseModel):
    """One recognised word."""

    text: str
    bbox: BBox
    confidence: float = Field(ge=0.0, le=1.0, description="0 to 1.")


class OCRLine(BaseModel):
    """One line of text and its words, left to right.

    .. versionadded:: 1.2
    """

    text: str = Field(description="The line's words joined by a space.")
    bbox: BBox
    confidence: float = Field(ge=0.0, le=1.0, description="Mean of the words' confidences.")
    words: list[OCRWord] = Field(default_factory=list)


class OCRBlock(BaseModel):
    """A block of text (paragraph or line group) and its words.

    A page's blocks are listed in reading order (a multi-column page: each column top to
    bottom, columns left to right); :attr:`order` repeats that position for consumers that
    sort blocks by something else.
    """

    text: str
    bbox: BBox
    confidence: float = Field(ge=0.0, le=1.0)
    words: list[OCRWord] = Field(default_factory=list)
    lines: list[OCRLine] = Field(
        default_factory=list,
        description="The block's lines, top to bottom (versionadded 1.2; empty from engines that give none).",
    )
    order: int | None = Field(default=None, ge=0, description="0-based position in the page's reading order (1.2).")
    kind: Literal["text", "title", "table", "figure", "list", "form", "handwriting", "other"] = Field(
        default="text", description="What the block is, when the engine tells (1.2)."
    )


class OCRTableCell(BaseModel):
    """One cell of a table.

    .. versionadded:: 1.2
    """

    row: int = Field(ge=0, description="0-based row of the cell's top-left corner.")
    column: int = Field(ge=0, description="0-based column of the cell's top-left corner.")
    row_span: int = Field(default=1, ge=1)
    column_span: int = Field(default=1, ge=1)
    text: str
    bbox: BBox | None = None


class OCRTable(BaseModel):
    """A table found on a page: its grid of cells.

    .. versionadded:: 1.2
    """

    bbox: BBox
    rows: int = Field(ge=0)
    columns: int = Field(ge=0)
    cells: list[OCRTableCell] = Field(default_factory=list)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)


class OCRPage(BaseModel):
    """One page of a document."""

    number: int = Field(ge=1, description="1-based page number in the document.")
    width: int = Field(description="Width of the page image in pixels.")
    height: int = Field(description="Height of the page image in pixels.")
    text: str = Field(description="The page's blocks' texts, joined by a blank line ('\\n\\n').")
    blocks: list[OCRBlock] = Field(default_factory=list)
    tables: list[OCRTable] = Field(default_factory=list, description="Tables on the page (versionadded 1.2).")
    source: Literal["ocr", "text_layer", "mixed"] = Field(
        default="ocr",
        description="Where the text came from: 'ocr', the PDF's own 'text_layer', or 'mixed' (a text layer "
        "plus OCR of image regions without text). versionadded 1.2.",
    )
    dpi: int | None = Field(default=None, description="Resolution of the page image in dots per inch, when known.")
    rotation: int = Field(
        default=0, description="Degrees (0, 90, 180, 270) the page was turned clockwise before reading (1.2)."
    )
    skew: float = Field(default=0.0, description="Degrees of skew corrected before reading (1.2).")


class OCRRequest(BaseModel):
    """What to recognise."""

    model_config = ConfigDict(extra="forbid")

    document: BlobRef = Field(description="An image (PNG, JPEG, TIFF...) or a PDF in the blob store.")
    languages: list[str] | None = Field(
        default=None,
        description="Language codes to recognise (engine-specific, e.g. 'eng', 'deu'); engine default when absent.",
    )
    pages: list[int] | None = Field(
        default=None,
        min_length=1,
        description="1-based pages of a multi-page document (PDF, TIFF) to read; all when absent.",
    )


class OCRResult(BaseModel):
    """What the engine read."""

    engine: str = Field(description="Engine name and version, e.g. 'tesseract 5.3.0'.")
    text: str = Field(description="The pages' texts in order, joined by a form feed ('\\f').")
    pages: list[OCRPage]


class OCREngine(Capability, Generic[ConfigT]):
    """An OCR engine. Implement :meth:`recognize`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.OCR_ENGINE
    category: ClassVar[str] = "Documents"

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"recognize": Operation("recognize", "recognize", OCRRequest, OCRResult, "Read a document.")}

    @abc.abstractmethod
    def recognize(self, request: OCRRequest, config: ConfigT, context: Context) -> OCRResult | Awaitable[OCRResult]:
        """Read the document's text, with a box and a confidence for every word."""
