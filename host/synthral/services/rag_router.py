"""The RAG router: which vector store an index goes to, by the PRD's rules.

The rules, first match wins (the PRD lists them without an order; this one goes from the
needs only one kind of store meets to cost and size):

====================  ===============================  ==============================
rule                  when                             stores, in order of preference
====================  ===============================  ==============================
structured_memory     structured memory is asked for   graphiti, zep, mem0
dataset_size          the dataset is over 1 GB         milvus
metadata              queries need metadata filters    weaviate, qdrant
ocr                   the text comes from OCR          pgvector, lightrag
plan                  the workspace is on a free plan  pgvector
file_size             the file is under 1 MB           lightrag
default               none of the above                lancedb, pgvector, qdrant, chroma, milvus
====================  ===============================  ==============================

Only stores that are installed (a capability of kind ``vector_store`` with that name) and
usable (configured, when their config has required fields) are chosen. A rule none of whose
stores is usable is passed over, and the reason says so. A person's choice (the override)
beats every rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from synthral.errors import NoVectorStore

__all__ = ["GB", "MB", "RULES", "Candidate", "Decision", "RoutingFacts", "Rule", "route"]

MB: Final = 1_000_000
GB: Final = 1_000_000_000


class RoutingFacts(BaseModel):
    """What the router is told about an index and its data."""

    model_config = ConfigDict(extra="forbid")

    file_size_bytes: int | None = Field(default=None, ge=0, description="Size of the file being ingested.")
    dataset_size_bytes: int | None = Field(default=None, ge=0, description="Size of the whole dataset.")
    requires_metadata: bool = Field(default=False, description="Queries will filter on metadata.")
    structured_memory: bool = Field(default=False, description="Long-term, structured (graph) memory is wanted.")
    plan: str | None = Field(default=None, max_length=32, description="The workspace's plan, e.g. 'free'.")
    ocr_input: bool = Field(default=False, description="The text comes from OCR.")


@dataclass(frozen=True)
class Candidate:
    """An installed vector store."""

    ref: str
    name: str
    usable: bool
    why_not: str = ""


@dataclass(frozen=True)
class Rule:
    """One routing rule."""

    key: str
    stores: tuple[str, ...]
    applies: Callable[[RoutingFacts], bool]
    because: str


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "structured_memory",
        ("graphiti", "zep", "mem0"),
        lambda f: f.structured_memory,
        "structured memory was asked for",
    ),
    Rule(
        "dataset_size",
        ("milvus",),
        lambda f: (f.dataset_size_bytes or 0) > GB,
        "the dataset is over 1 GB",
    ),
    Rule("metadata", ("weaviate", "qdrant"), lambda f: f.requires_metadata, "queries need metadata filtering"),
    Rule("ocr", ("pgvector", "lightrag"), lambda f: f.ocr_input, "the text comes from OCR"),
    Rule("plan", ("pgvector",), lambda f: (f.plan or "").lower() == "free", "the workspace is on the free plan"),
    Rule(
        "file_size",
        ("lightrag",),
        lambda f: f.file_size_bytes is not None and f.file_size_bytes < MB,
        "the file is under 1 MB",
    ),
)
DEFAULT_STORES: Final = ("lancedb", "pgvector", "qdrant", "chroma", "milvus")


@dataclass(frozen=True)
class Decision:
    """The store chosen and why."""

    store: str
    rule: str
    reason: str
    candidates: tuple[Candidate, ...]


def _pick(names: Sequence[str], candidates: Sequence[Candidate]) -> tuple[Candidate | None, list[str]]:
    """The first usable candidate named in ``names``, and notes on the named ones passed over."""
    notes: list[str] = []
    for name in names:
        found = [c for c in candidates if c.name == name]
        usable = [c for c in found if c.usable]
        if usable:
            return usable[0], notes
        if found:
            notes.append(f"{name} is installed but {found[0].why_not}")
        else:
            notes.append(f"{name} is not installed")
    return None, notes


def route(facts: RoutingFacts, candidates: Sequence[Candidate], *, override: str | None = None) -> Decision:
    """Choose a store for ``facts`` among ``candidates``.

    Args:
        facts: What is known about the index and its data.
        candidates: The installed vector stores.
        override: A store a person chose ('plugin/capability' or a capability name).

    Raises:
        NoVectorStore: The override is not installed or not usable, or no store is.
    """
    pool = tuple(candidates)
    if override is not None:
        chosen = [c for c in pool if override in (c.ref, c.name)]
        if not chosen:
            raise NoVectorStore(
                f"the store {override!r} is not installed; installed: {', '.join(c.ref for c in pool) or 'none'}; "
                f"install its plugin (e.g. 'vector-{override.split('/')[-1]}') or choose an installed store",
                details={"store": override, "installed": [c.ref for c in pool]},
            )
        if not chosen[0].usable:
            raise NoVectorStore(
                f"the store {chosen[0].ref} is installed but {chosen[0].why_not}",
                details={"store": chosen[0].ref},
            )
        return Decision(chosen[0].ref, "override", f"{chosen[0].ref} was chosen for this index by a person", pool)
    passed: list[str] = []
    for rule in RULES:
        if not rule.applies(facts):
            continue
        pick, notes = _pick(rule.stores, pool)
        if pick is not None:
            reason = f"{rule.because}: {pick.name} ({pick.ref})"
            if notes:
                reason += f"; before it, {'; '.join(notes)}"
            if passed:
                reason += f". Passed over: {' '.join(passed)}"
            return Decision(pick.ref, rule.key, reason, pool)
        passed.append(f"{rule.because}, but {'; '.join(notes)}.")
    pick, notes = _pick(DEFAULT_STORES, pool)
    if pick is None:
        others = [c for c in pool if c.usable]
        if not others:
            raise NoVectorStore(
                "no vector store is installed and usable; install one: "
                "'synthral plugin install plugins/vector-lancedb' (the embedded default)",
                details={"installed": [c.ref for c in pool]},
            )
        pick = others[0]
    reason = f"no rule applied, so the default: {pick.name} ({pick.ref})"
    if passed:
        reason = f"{reason}. Passed over: {' '.join(passed)}"
    return Decision(pick.ref, "default", reason, pool)
