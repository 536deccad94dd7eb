"""OCR engines: documents in, pages of blocks of words with boxes and confidences out."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Generic

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context
from synthral_sdk.types import BlobRef

__all__ = ["BBox", "OCRBlock", "OCREngine", "OCRPage", "OCRRequest", "OCRResult", "OCRWord"]


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


class OCRBlock(BaseModel):
    """A block of text (paragraph or line group) and its words."""

    text: str
    bbox: BBox
    confidence: float = Field(ge=0.0, le=1.0)
    words: list[OCRWord] = Field(default_factory=list)


class OCRPage(BaseModel):
    """One page of a document."""

    number: int = Field(ge=1, description="1-based page number in the document.")
    width: int = Field(description="Width of the page image in pixels.")
    height: int = Field(description="Height of the page image in pixels.")
    text: str = Field(description="The page's blocks' texts, joined by a blank line ('\\n\\n').")
    blocks: list[OCRBlock] = Field(default_factory=list)


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
