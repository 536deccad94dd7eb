"""The OCR benchmark set, drawn at run time from text and a seed (nothing binary is kept in the repo).

Every sample has its ground truth. Pages are rendered with the DejaVu fonts (Debian's
fonts-dejavu-core) when installed, else with Pillow's built-in font; the fonts used are
reported with the figures.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tests.support.pdfs import PdfPage, image_pdf, make_pdf

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {"sans": "DejaVuSans.ttf", "serif": "DejaVuSerif.ttf", "mono": "DejaVuSansMono.ttf"}

WORDS = (
    "account",
    "amount",
    "balance",
    "bank",
    "budget",
    "charge",
    "client",
    "contract",
    "credit",
    "customer",
    "date",
    "delivery",
    "deposit",
    "discount",
    "document",
    "due",
    "estimate",
    "freight",
    "goods",
    "invoice",
    "item",
    "ledger",
    "margin",
    "method",
    "net",
    "notice",
    "number",
    "order",
    "paid",
    "payment",
    "period",
    "price",
    "product",
    "purchase",
    "quantity",
    "quote",
    "receipt",
    "reference",
    "refund",
    "remit",
    "report",
    "sale",
    "service",
    "shipment",
    "statement",
    "subtotal",
    "supplier",
    "tax",
    "terms",
    "total",
    "transfer",
    "unit",
    "value",
    "vendor",
    "warehouse",
    "April",
    "March",
    "October",
    "Berlin",
    "London",
    "Madrid",
    "Paris",
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
)


@dataclass(frozen=True)
class Sample:
    """One benchmark document and the text on it."""

    name: str
    category: str
    data: bytes
    media_type: str
    truth: str
    pages: int = 1


def font(kind: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / FONTS[kind]
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def fonts_used() -> str:
    return "DejaVu Sans/Serif/Mono" if (FONT_DIR / FONTS["sans"]).is_file() else "Pillow's built-in font"


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    number = f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}"
    return f"{text[0].upper()}{text[1:]} {number}"


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def dense_a4(seed: int, kind: str = "serif", lines: int = 53) -> tuple[Image.Image, str]:
    """An A4 page at 300 dpi with ``lines`` lines of 11 pt text."""
    rng = random.Random(seed)
    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    face = font(kind, 44)  # 11 pt at 300 dpi (about 46 px)
    texts = [sentence(rng, 9) for _ in range(lines)]
    for index, text in enumerate(texts):
        draw.text((240, 220 + index * 58), text, font=face, fill=0)
    return image, "\n".join(texts)


def two_columns(seed: int) -> tuple[Image.Image, str]:
    rng = random.Random(seed)
    image = Image.new("L", (2480, 1800), 255)
    draw = ImageDraw.Draw(image)
    face = font("sans", 40)
    left = [sentence(rng, 4) for _ in range(20)]
    right = [sentence(rng, 4) for _ in range(20)]
    for index, text in enumerate(left):
        draw.text((160, 160 + index * 70), text, font=face, fill=0)
    for index, text in enumerate(right):
        draw.text((1320, 160 + index * 70), text, font=face, fill=0)
    return image, "\n".join(left + right)


def table(seed: int) -> tuple[Image.Image, str]:
    rng = random.Random(seed)
    rows = [("Item", "Qty", "Price", "Total")]
    for _ in range(12):
        qty, price = rng.randint(1, 40), rng.randint(100, 99999) / 100
        rows.append((rng.choice(WORDS).capitalize(), str(qty), f"{price:.2f}", f"{qty * price:.2f}"))
    widths = (700, 300, 400, 400)
    image = Image.new("L", (sum(widths) + 200, 120 + 90 * len(rows)), 255)
    draw = ImageDraw.Draw(image)
    face = font("sans", 40)
    for r, row in enumerate(rows):
        x = 100
        for c, cell in enumerate(row):
            draw.rectangle((x, 60 + r * 90, x + widths[c], 60 + (r + 1) * 90), outline=0, width=3)
            draw.text((x + 20, 80 + r * 90), cell, font=face, fill=0)
            x += widths[c]
    return image, "\n".join(" ".join(row) for row in rows)


def invoice(seed: int) -> tuple[Image.Image, str]:
    """An invoice-sized image: A4 at 150 dpi (1240 x 1754), header, items, totals."""
    rng = random.Random(seed)
    image = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(image)
    lines = [
        f"INVOICE {rng.randint(1000, 99999)}",
        f"{rng.choice(['Acme', 'Globex', 'Initech', 'Umbrella'])} Trading Ltd",
        f"Date {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2026",
    ]
    for _ in range(14):
        qty, price = rng.randint(1, 20), rng.randint(100, 50000) / 100
        lines.append(f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {qty} x {price:.2f}")
    lines += [f"Subtotal {rng.randint(100, 9999)}.{rng.randint(0, 99):02d}", f"Total due {rng.randint(100, 9999)}.00"]
    for index, text in enumerate(lines):
        draw.text((90, 90 + index * 56), text, font=font("sans" if index else "serif", 30 if index else 44), fill=0)
    return image, "\n".join(lines)


def receipt(seed: int) -> tuple[Image.Image, str]:
    rng = random.Random(seed)
    lines = [f"{rng.choice(WORDS).upper()} STORE", f"Receipt {rng.randint(100, 999)}"]
    lines += [f"{rng.choice(WORDS).capitalize()} {rng.randint(1, 99)}.{rng.randint(0, 99):02d}" for _ in range(10)]
    lines.append(f"TOTAL {rng.randint(10, 500)}.{rng.randint(0, 99):02d}")
    image = Image.new("L", (640, 120 + 50 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for index, text in enumerate(lines):
        draw.text((40, 50 + index * 50), text, font=font("mono", 28), fill=0)
    return image, "\n".join(lines)


def degrade(image: Image.Image, how: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    if how == "blur":
        return image.filter(ImageFilter.GaussianBlur(1.6))
    if how == "noise":
        noisy = image.copy()
        pixels = noisy.load()
        assert pixels is not None
        width, height = noisy.size
        for _ in range(width * height // 60):
            x, y = rng.randrange(width), rng.randrange(height)
            pixels[x, y] = 0 if rng.random() < 0.5 else 255
        return noisy
    if how == "skew":
        return image.rotate(3, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    raise ValueError(how)


def samples(quick: bool) -> Iterator[Sample]:
    """The benchmark set: clean print, layouts, degraded scans, invoices and receipts, PDFs."""
    for index, kind in enumerate(("serif", "sans", "mono")[: 1 if quick else 3]):
        image, truth = dense_a4(100 + index, kind)
        yield Sample(f"dense A4 300 dpi ({kind})", "clean", png(image), "image/png", truth)
    image, truth = two_columns(7)
    yield Sample("two columns", "layout", png(image), "image/png", truth)
    image, truth = table(8)
    yield Sample("table", "layout", png(image), "image/png", truth)
    base, base_truth = invoice(9)
    for how in ("blur", "noise", "skew"):
        yield Sample(f"invoice, {how}", "degraded", png(degrade(base, how, 9)), "image/png", base_truth)
    yield Sample("invoice, JPEG q=20", "degraded", jpeg(base, 20), "image/jpeg", base_truth)
    for seed in range(2 if quick else 4):
        image, truth = invoice(20 + seed)
        yield Sample(f"invoice {seed + 1}", "invoice", png(image), "image/png", truth)
    image, truth = receipt(30)
    yield Sample("receipt", "invoice", png(image), "image/png", truth)
    pages = [invoice(40 + seed) for seed in range(3)]
    scanned = image_pdf([image for image, _ in pages], dpi=150)
    yield Sample("scanned PDF, 3 pages", "pdf", scanned, "application/pdf", "\f".join(t for _, t in pages), 3)
    yield text_pdf(3)


def text_pdf(count: int) -> Sample:
    """A PDF with a text layer: invoices typeset as real text."""
    pages, truths = [], []
    for seed in range(count):
        _, truth = invoice(40 + seed)
        lines = truth.split("\n")
        pages.append(PdfPage(lines=[(54, 54 + index * 26, line) for index, line in enumerate(lines)]))
        truths.append(truth)
    return Sample(f"text-layer PDF, {count} pages", "pdf", make_pdf(pages), "application/pdf", "\f".join(truths), count)


def multipage_tiff(count: int) -> bytes:
    """Invoice pages as one multi-page TIFF, for throughput."""
    images = [invoice(60 + seed)[0] for seed in range(count)]
    out = io.BytesIO()
    images[0].save(out, format="TIFF", save_all=True, append_images=images[1:], dpi=(150, 150))
    return out.getvalue()
