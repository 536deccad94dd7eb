"""Page analysis and layout for :mod:`synthral_sdk.documents`: slant, orientation, lines into blocks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from PIL import Image

from synthral_sdk._documents import BBox, OCRBlock, OCRLine, OCRPage, OCRWord

__all__ = [
    "assemble_page",
    "deskew_angle",
    "line_of",
    "mean_confidence",
    "needs_quarter_turn",
    "page_from_lines",
    "shift_lines",
    "union",
]

# -- page analysis -------------------------------------------------------------------------

_ANALYSIS_SIDE: Final = 800


def _dark_points(image: Image.Image, limit: int = 40_000) -> tuple[np.ndarray, float]:
    """Coordinates (x, y) of ink pixels of a reduced copy, and the reduction factor."""
    grey = image.convert("L")
    factor = min(1.0, _ANALYSIS_SIDE / max(grey.size))
    if factor < 1.0:
        grey = grey.resize((max(1, round(grey.width * factor)), max(1, round(grey.height * factor))))
    pixels = np.asarray(grey, dtype=np.uint8)
    threshold = min(128.0, float(pixels.mean()) - float(pixels.std()))
    ys, xs = np.nonzero(pixels < threshold)
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    if len(points) > limit:
        points = points[np.random.default_rng(0).choice(len(points), limit, replace=False)]
    return points, factor


def _profile_score(points: np.ndarray, angle: float) -> float:
    """How sharply the points fall into horizontal rows after turning them by ``angle`` degrees."""
    theta = math.radians(angle)
    ys = points[:, 1] * math.cos(theta) - points[:, 0] * math.sin(theta)
    counts = np.bincount((ys - ys.min()).astype(np.int64))
    return float(np.square(counts.astype(np.float64)).sum())


def deskew_angle(image: Image.Image, *, max_angle: float = 10.0) -> float:
    """Degrees to turn the image counter-clockwise (PIL's rotate) to level its text lines; 0 when unclear."""
    points, _ = _dark_points(image)
    if len(points) < 200:
        return 0.0
    coarse = np.arange(-max_angle, max_angle + 0.01, 0.5)
    best = max(coarse, key=lambda angle: _profile_score(points, float(angle)))
    fine = np.arange(best - 0.5, best + 0.51, 0.1)
    angle = float(max(fine, key=lambda a: _profile_score(points, float(a))))
    return round(angle, 1) if abs(angle) >= 0.3 else 0.0


def _blank_share(image: Image.Image) -> tuple[float, float, float]:
    """Shares of ink-free rows and columns inside the ink's bounding box, and its width / height."""
    grey = image.convert("L")
    factor = min(1.0, _ANALYSIS_SIDE / max(grey.size))
    if factor < 1.0:
        grey = grey.resize((max(1, round(grey.width * factor)), max(1, round(grey.height * factor))))
    pixels = np.asarray(grey, dtype=np.uint8)
    ink = pixels < min(128.0, float(pixels.mean()) - float(pixels.std()))
    ys, xs = np.nonzero(ink)
    if len(ys) < 200:
        return 0.0, 0.0, 1.0
    ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    aspect = ink.shape[1] / ink.shape[0]
    return float((~ink.any(axis=1)).mean()), float((~ink.any(axis=0)).mean()), aspect


def needs_quarter_turn(image: Image.Image) -> bool:
    """Whether the text lines run vertically (the page lies on its side).

    Horizontal lines of text leave whole rows without ink between them and hardly any such
    column; a page on its side shows the reverse. Grids (tables) leave neither and stay, and
    so does a band much wider than high (a line or two, which gaps between words would fool).
    """
    rows, columns, aspect = _blank_share(image)
    return aspect < 4 and columns >= 0.1 and columns > 2 * rows


# -- building results ----------------------------------------------------------------------


def union(boxes: Sequence[BBox]) -> BBox:
    """The smallest box holding all of ``boxes``."""
    left, top = min(box.x for box in boxes), min(box.y for box in boxes)
    right = max(box.x + box.width for box in boxes)
    bottom = max(box.y + box.height for box in boxes)
    return BBox(x=left, y=top, width=right - left, height=bottom - top)


def line_of(words: list[OCRWord]) -> OCRLine:
    return OCRLine(
        text=" ".join(word.text for word in words),
        bbox=union([word.bbox for word in words]),
        confidence=sum(word.confidence for word in words) / len(words),
        words=words,
    )


def _block(lines: list[OCRLine], order: int) -> OCRBlock:
    words = [word for line in lines for word in line.words]
    return OCRBlock(
        text="\n".join(line.text for line in lines),
        bbox=union([line.bbox for line in lines]),
        confidence=sum(word.confidence for word in words) / len(words),
        words=words,
        lines=lines,
        order=order,
    )


def _columns(lines: list[OCRLine], page_width: int) -> list[list[OCRLine]]:
    """Split lines into columns at vertical gutters no line crosses, left to right."""
    if not lines:
        return []
    covered = np.zeros(max(page_width, 1) + 1, dtype=bool)
    for line in lines:
        covered[int(max(line.bbox.x, 0)) : int(min(line.bbox.x + line.bbox.width, page_width)) + 1] = True
    gutter = max(page_width * 0.02, 8)
    cuts: list[float] = []
    start = None
    for x, taken in enumerate(covered):
        if not taken and start is None:
            start = x
        elif taken and start is not None:
            if x - start >= gutter and start > 0:
                cuts.append((start + x) / 2)
            start = None
    columns: list[list[OCRLine]] = [[] for _ in range(len(cuts) + 1)]
    for line in lines:
        centre = line.bbox.x + line.bbox.width / 2
        columns[sum(1 for cut in cuts if centre > cut)].append(line)
    return [column for column in columns if column]


def _rows(lines: list[OCRLine]) -> list[OCRLine]:
    """Lines top to bottom; pieces of one line (same height on the page) joined left to right."""
    rows: list[list[OCRLine]] = []
    for line in sorted(lines, key=lambda item: item.bbox.y + item.bbox.height / 2):
        centre = line.bbox.y + line.bbox.height / 2
        if rows:
            last = union([piece.bbox for piece in rows[-1]])
            if last.y <= centre <= last.y + last.height:
                rows[-1].append(line)
                continue
        rows.append([line])
    joined = []
    for row in rows:
        if len(row) == 1:
            joined.append(row[0])
            continue
        row.sort(key=lambda piece: piece.bbox.x)
        joined.append(line_of([word for piece in row for word in piece.words]))
    return joined


def assemble_page(number: int, width: int, height: int, lines: list[OCRLine]) -> OCRPage:
    """Lines (any order) into a page of blocks in reading order: columns, then paragraphs.

    A block ends where the gap to the next line is more than the line height.
    """
    blocks: list[OCRBlock] = []
    for raw_column in _columns(lines, width):
        column = _rows(raw_column)
        group: list[OCRLine] = []
        for line in column:
            if group:
                last = group[-1]
                gap = line.bbox.y - (last.bbox.y + last.bbox.height)
                if gap > max(last.bbox.height, line.bbox.height):
                    blocks.append(_block(group, len(blocks)))
                    group = []
            group.append(line)
        if group:
            blocks.append(_block(group, len(blocks)))
    return OCRPage(
        number=number, width=width, height=height, text="\n\n".join(block.text for block in blocks), blocks=blocks
    )


def page_from_lines(number: int, width: int, height: int, lines: Sequence[Sequence[OCRWord]]) -> OCRPage:
    """Lines of words (each line left to right) into a page; see :func:`assemble_page`."""
    return assemble_page(number, width, height, [line_of(list(words)) for words in lines if words])


def shift_lines(page: OCRPage, dx: float, dy: float) -> list[OCRLine]:
    def move(box: BBox) -> BBox:
        return BBox(x=box.x + dx, y=box.y + dy, width=box.width, height=box.height)

    return [
        line.model_copy(
            update={
                "bbox": move(line.bbox),
                "words": [word.model_copy(update={"bbox": move(word.bbox)}) for word in line.words],
            }
        )
        for block in page.blocks
        for line in (block.lines or [line_of(block.words)] if block.words else [])
    ]


def mean_confidence(page: OCRPage) -> float:
    words = [word for block in page.blocks for word in block.words]
    return sum(word.confidence for word in words) / len(words) if words else 0.0
