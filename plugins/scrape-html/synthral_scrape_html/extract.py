"""What a page holds: text, markdown, links, metadata, tables and selected fields.

selectolax (Lexbor) parses; lxml answers XPath; BeautifulSoup's soupsieve answers the CSS
selectors Lexbor does not know (``:-soup-contains``, ``:has`` in older builds); trafilatura
finds the main content and writes it as text or markdown.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final
from urllib.parse import urldefrag, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode

from synthral_sdk.errors import InputInvalid

__all__ = ["FieldSpec", "Link", "Page", "extract_links", "metadata", "select_field", "tables", "visible_text"]

for _name in ("trafilatura", "htmldate", "courlan"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_SKIP: Final = ("script", "style", "noscript", "template", "svg", "iframe")


class FieldSpec(BaseModel):
    """One field to pick out of the page: a CSS selector or an XPath, and what to take."""

    model_config = ConfigDict(extra="forbid")

    css: str | None = Field(default=None, description="A CSS selector.")
    xpath: str | None = Field(default=None, description="An XPath expression (instead of css).")
    attr: str | None = Field(default=None, description="Take this attribute instead of the text.")
    all: bool = Field(default=False, description="Every match as a list, instead of the first.")

    @model_validator(mode="after")
    def _one(self) -> FieldSpec:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of 'css' or 'xpath'")
        return self


class Link(BaseModel):
    """A link found on the page, made absolute."""

    url: str
    text: str = ""
    internal: bool


class Page:
    """A parsed page."""

    def __init__(self, html: str, url: str) -> None:
        self.html = html
        self.url = url
        self.tree = LexborHTMLParser(html)
        self._lxml: Any = None
        self._soup: Any = None

    def lxml(self) -> Any:
        """The lxml tree (made on first use, for XPath)."""
        if self._lxml is None:
            import lxml.html  # noqa: PLC0415 -- only pages with XPath fields pay for it

            self._lxml = lxml.html.fromstring(self.html or "<html></html>")
        return self._lxml

    def soup(self) -> Any:
        """The BeautifulSoup tree (made on first use, for selectors Lexbor cannot read)."""
        if self._soup is None:
            from bs4 import BeautifulSoup  # noqa: PLC0415 -- only pages with such selectors pay for it

            self._soup = BeautifulSoup(self.html, "lxml")
        return self._soup

    @property
    def title(self) -> str:
        """The document's title."""
        node = self.tree.css_first("title")
        return node.text(strip=True) if node is not None else ""


def visible_text(page: Page) -> str:
    """The page's visible text, one block per line."""
    body = page.tree.body or page.tree.root
    if body is None:
        return ""
    clone = LexborHTMLParser(body.html or "")
    clone.strip_tags(list(_SKIP))
    root = clone.body or clone.root
    text = root.text(separator="\n", strip=True) if root is not None else ""
    return "\n".join(line for line in (part.strip() for part in text.splitlines()) if line)


def main_content(page: Page, output: str) -> str:
    """The main content by trafilatura (``txt`` or ``markdown``); the visible text if it finds none."""
    import trafilatura  # noqa: PLC0415 -- slow to import; only calls that ask for it pay

    found = trafilatura.extract(
        page.html, url=page.url, output_format=output, include_links=output == "markdown", include_tables=True
    )
    return found or visible_text(page)


def extract_links(page: Page, base: str) -> list[Link]:
    """Every ``<a href>`` as an absolute http(s) URL without fragment, first occurrence kept."""
    host = urlsplit(base).hostname
    seen: set[str] = set()
    links: list[Link] = []
    for node in page.tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "tel:", "#")):
            continue
        url = urldefrag(urljoin(base, href))[0]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        links.append(Link(url=url, text=node.text(strip=True)[:200], internal=parts.hostname == host))
    return links


def metadata(page: Page) -> dict[str, JsonValue]:
    """Title, description, canonical URL, language, Open Graph and Twitter tags, JSON-LD."""
    meta: dict[str, JsonValue] = {"title": page.title}
    html = page.tree.css_first("html")
    if html is not None and html.attributes.get("lang"):
        meta["lang"] = html.attributes.get("lang")
    for node in page.tree.css("meta"):
        key = node.attributes.get("name") or node.attributes.get("property")
        content = node.attributes.get("content")
        if key and content is not None:
            key = key.lower()
            if key in ("description", "keywords", "author", "robots") or key.startswith(("og:", "twitter:")):
                meta[key] = content
    canonical = page.tree.css_first('link[rel="canonical"]')
    if canonical is not None and canonical.attributes.get("href"):
        meta["canonical"] = urljoin(page.url, canonical.attributes.get("href") or "")
    ld: list[JsonValue] = []
    for node in page.tree.css('script[type="application/ld+json"]'):
        try:
            ld.append(json.loads(node.text()))
        except ValueError:
            continue
    if ld:
        meta["json_ld"] = ld
    return meta


def tables(page: Page) -> list[dict[str, JsonValue]]:
    """Each ``<table>`` as headers and rows of cell texts (rows as objects when there are headers)."""
    found: list[dict[str, JsonValue]] = []
    for table in page.tree.css("table"):
        rows = [[cell.text(strip=True) for cell in row.css("th, td")] for row in table.css("tr")]
        rows = [row for row in rows if row]
        if not rows:
            continue
        first = table.css_first("tr")
        headers = [cell.text(strip=True) for cell in first.css("th")] if first is not None else []
        body = rows[1:] if headers else rows
        records: list[JsonValue] = (
            [dict(zip(headers, row, strict=False)) for row in body] if headers else [list(row) for row in body]
        )
        found.append({"headers": list(headers), "rows": records})
    return found


def _value(node: LexborNode, attr: str | None) -> str | None:
    return node.attributes.get(attr) if attr else node.text(strip=True)


def select_field(page: Page, name: str, spec: FieldSpec) -> tuple[JsonValue, list[LexborNode]]:
    """The field's value (None or [] when nothing matches) and the Lexbor nodes matched (CSS only).

    Raises:
        InputInvalid: The selector or XPath does not parse; the message names the field.
    """
    if spec.xpath is not None:
        try:
            results = page.lxml().xpath(spec.xpath)
        except Exception as exc:  # noqa: BLE001 -- lxml's XPathError and its kin share no narrower base
            raise InputInvalid(
                f"field {name!r}: the XPath {spec.xpath!r} does not parse ({exc}); fix the expression",
                details={"field": name},
            ) from None
        values = [_xpath_value(item, spec.attr) for item in results]
        values = [value for value in values if value is not None]
        return (values if spec.all else (values[0] if values else None)), []
    assert spec.css is not None
    try:
        nodes = page.tree.css(spec.css)
    except Exception:  # noqa: BLE001 -- Lexbor does not know the selector: soupsieve may
        return _soup_field(page, name, spec), []
    values = [value for value in (_value(node, spec.attr) for node in nodes) if value is not None]
    return (values if spec.all else (values[0] if values else None)), nodes


def _soup_field(page: Page, name: str, spec: FieldSpec) -> JsonValue:
    try:
        nodes = page.soup().select(spec.css)
    except Exception as exc:  # noqa: BLE001 -- soupsieve's SelectorSyntaxError, without importing soupsieve
        raise InputInvalid(
            f"field {name!r}: the CSS selector {spec.css!r} does not parse ({exc}); fix the selector",
            details={"field": name},
        ) from None
    values = [node.get(spec.attr) if spec.attr else node.get_text(strip=True) for node in nodes]
    values = [str(value) for value in values if value is not None]
    return values if spec.all else (values[0] if values else None)


def _xpath_value(item: Any, attr: str | None) -> str | None:
    if isinstance(item, str):
        return str(item)
    if hasattr(item, "text_content"):
        if attr:
            value = item.get(attr)
            return None if value is None else str(value)
        return " ".join(str(item.text_content()).split())
    return str(item)
