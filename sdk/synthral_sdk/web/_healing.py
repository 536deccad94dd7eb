"""Self-healing selectors: remember what an element looked like, find it again when its selector breaks.

When a field's selector matches, the scraper keeps the element's *fingerprint* (tag, id,
classes, a few attributes, its text, its path). When the selector later matches nothing,
:func:`propose_selector` scores every element of the new page against the fingerprint and
writes a selector for the best one, unique in the page. Parsing uses the standard library
only, so every plugin can use it whatever parser it has; the plugin checks the proposal with
its own parser before trusting it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final

from pydantic import BaseModel, Field

__all__ = ["Element", "Fingerprint", "SelectorProposal", "fingerprint_of", "parse_tree", "propose_selector", "select"]

_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_SELF_CLOSING_SIBLINGS: Final = frozenset({"p", "li", "option", "tr", "td", "th", "dt", "dd"})
_KEPT_ATTRS: Final = ("name", "itemprop", "role", "aria-label", "type", "rel", "title")
_IDENT: Final = re.compile(r"^-?[_a-zA-Z][_a-zA-Z0-9-]*$")
_THRESHOLD: Final = 0.45


@dataclass(eq=False)
class Element:
    """A node of the light tree :func:`parse_tree` builds."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The id attribute, or ''."""
        return self.attrs.get("id", "")

    @property
    def classes(self) -> list[str]:
        """The class names."""
        return self.attrs.get("class", "").split()

    def text(self) -> str:
        """All text inside, whitespace collapsed."""
        parts: list[str] = []
        stack = [self]
        while stack:
            node = stack.pop()
            parts.extend(node.text_parts)
            stack.extend(reversed(node.children))
        return " ".join(" ".join(parts).split())

    def nth_of_type(self) -> int:
        """1-based position among siblings with the same tag."""
        if self.parent is None:
            return 1
        same = [child for child in self.parent.children if child.tag == self.tag]
        return same.index(self) + 1

    def walk(self) -> list[Element]:
        """This element and every descendant, in document order."""
        found: list[Element] = []
        stack = [self]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(reversed(node.children))
        return found


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self._open = self.root
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SELF_CLOSING_SIBLINGS and self._open.tag == tag and self._open.parent is not None:
            self._open = self._open.parent  # <p>one<p>two: the second p ends the first, as browsers read it
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self._open)
        self._open.children.append(element)
        if tag in ("script", "style", "template"):
            self._skip += 1
        if tag not in _VOID:
            self._open = element

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self._open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            if tag in ("script", "style", "template"):
                self._skip = max(0, self._skip - 1)
            self._open = node.parent

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self._open.text_parts.append(data.strip())


def parse_tree(html: str) -> Element:
    """A forgiving light tree of ``html`` (the document node)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


class Fingerprint(BaseModel):
    """What an element looked like when its selector last matched."""

    tag: str
    id: str = ""
    classes: list[str] = Field(default_factory=list)
    attrs: dict[str, str] = Field(default_factory=dict)
    text: str = ""
    path: list[str] = Field(default_factory=list, description="Ancestors' tags, nearest first.")


class SelectorProposal(BaseModel):
    """A new selector for a field whose selector broke."""

    field: str = ""
    old_selector: str
    selector: str
    score: float = Field(description="How alike the element is to the remembered one, 0-1.")
    source: str = Field(description="'structure' (this module) or 'llm'.")
    sample: str = Field(default="", description="The start of the element's text.")


def fingerprint_of(element: Element) -> Fingerprint:
    """The fingerprint of ``element``."""
    path: list[str] = []
    node = element.parent
    while node is not None and node.tag != "#document" and len(path) < 6:
        path.append(node.tag)
        node = node.parent
    return Fingerprint(
        tag=element.tag,
        id=element.id,
        classes=element.classes,
        attrs={k: v[:200] for k, v in element.attrs.items() if k in _KEPT_ATTRS or k.startswith("data-")},
        text=element.text()[:200],
        path=path,
    )


def _similarity(element: Element, print_: Fingerprint) -> float:
    score = 0.0
    weight = 0.0

    def add(value: float, w: float) -> None:
        nonlocal score, weight
        score += value * w
        weight += w

    add(1.0 if element.tag == print_.tag else 0.0, 2.0)
    if print_.id:
        add(1.0 if element.id == print_.id else 0.0, 2.0)
    if print_.classes:
        mine, theirs = set(element.classes), set(print_.classes)
        add(len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0, 2.0)
    if print_.attrs:
        same = sum(1 for k, v in print_.attrs.items() if element.attrs.get(k) == v)
        add(same / len(print_.attrs), 1.5)
    if print_.text:
        text = element.text()[:200]
        add(difflib.SequenceMatcher(None, text, print_.text).ratio() if text else 0.0, 3.0)
    mine_path = fingerprint_of(element).path
    add(difflib.SequenceMatcher(None, mine_path, print_.path).ratio() if print_.path else 1.0, 1.0)
    return score / weight if weight else 0.0


def _compound(element: Element, *, with_classes: bool, with_position: bool) -> str:
    part = element.tag
    if with_classes:
        part += "".join(f".{name}" for name in element.classes if _IDENT.match(name))
    if with_position:
        part += f":nth-of-type({element.nth_of_type()})"
    return part


def _matches(element: Element, compound: str) -> bool:
    match = re.fullmatch(r"([a-z0-9]+|\*)?((?:[#.][_a-zA-Z0-9-]+)*)(?::nth-of-type\((\d+)\))?", compound)
    if match is None:
        return False
    tag, rest, position = match.groups()
    if tag and tag not in ("*", element.tag):
        return False
    for kind, name in re.findall(r"([#.])([_a-zA-Z0-9-]+)", rest or ""):
        if (kind == "#" and element.id != name) or (kind == "." and name not in element.classes):
            return False
    return not (position and element.nth_of_type() != int(position))


def select(root: Element, selector: str) -> list[Element]:
    """Elements matching ``selector`` in the simple grammar this module writes: compounds joined by ``>``."""
    steps = [step.strip() for step in selector.split(">")]
    current = [node for node in root.walk() if node.tag != "#document" and _matches(node, steps[0])]
    for step in steps[1:]:
        current = [child for node in current for child in node.children if _matches(child, step)]
    return current


def _unique_selector(root: Element, element: Element) -> str:
    if element.id and _IDENT.match(element.id) and len(select(root, f"#{element.id}")) == 1:
        return f"#{element.id}"
    compound = _compound(element, with_classes=True, with_position=False)
    if len(select(root, compound)) == 1:
        return compound
    chain: list[str] = []
    node: Element | None = element
    while node is not None and node.tag != "#document":
        if node is not element and node.id and _IDENT.match(node.id) and len(select(root, f"#{node.id}")) == 1:
            chain.append(f"#{node.id}")
            break
        chain.append(_compound(node, with_classes=False, with_position=True))
        node = node.parent
    return " > ".join(reversed(chain))


def propose_selector(
    html: str, remembered: Fingerprint, old_selector: str, field_name: str = ""
) -> SelectorProposal | None:
    """A selector for the element most like ``remembered`` in ``html``, or None if none is alike enough."""
    root = parse_tree(html)
    best: tuple[float, Element] | None = None
    for element in root.walk():
        if element.tag in ("#document", "html", "head", "body"):
            continue
        score = _similarity(element, remembered)
        if best is None or score > best[0]:
            best = (score, element)
    if best is None or best[0] < _THRESHOLD:
        return None
    score, element = best
    return SelectorProposal(
        field=field_name,
        old_selector=old_selector,
        selector=_unique_selector(root, element),
        score=round(score, 3),
        source="structure",
        sample=element.text()[:120],
    )
