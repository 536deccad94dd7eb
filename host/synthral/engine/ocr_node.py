"""The ``ocr/extract`` node: the OCR router (which engine reads a document, and why) and the reading.

The router applies the PRD's rules to a document's facts and the node's hints, among the
engines that are installed, enabled and ready (their configured settings satisfy their
config schema: an engine that needs weights or a credential is ready only once they are
set). Every decision carries its reason; an empty result falls back to Tesseract. The
reading itself goes through a caller's ``invoke`` (a recorded step in a workflow, a direct
call for a synchronous request) and every outcome through a caller's ``record``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from synthral.engine.ocr_pace import PACE, EnginePace
from synthral.errors import ConfigurationError, DatabaseUnavailable, InputInvalid, NonRetryableError, SynthralError
from synthral.store.blob_tables import grant_blobs
from synthral.store.ocr_tables import OCR_DOCUMENT as DOC
from synthral.store.ocr_tables import OCR_JOB as JOB
from synthral.store.ocr_tables import OCR_RESULT as RESULT
from synthral.store.ocr_tables import OCRJobStatus
from synthral.store.tables import new_id, utcnow
from synthral_sdk import BlobRef, BlobStore, CapabilityKind, CapabilitySpec, OCRResult

__all__ = [
    "ENGINE_NAMES",
    "OCR_NODE_TYPE",
    "Decision",
    "DocumentFacts",
    "DocumentFailure",
    "DocumentOutcome",
    "OCRExtractConfig",
    "OCRExtractInput",
    "OCRExtractOutput",
    "OCRExtractResult",
    "OCRHints",
    "ReadyEngine",
    "extract",
    "read_document",
    "ready_engines",
    "record_job",
    "route",
]

OCR_NODE_TYPE: Final = "ocr/extract"

#: The engines the rules name, by capability name.
ENGINE_NAMES: Final = ("rapidocr", "tesseract", "doctr", "easyocr", "paddleocr", "omniparser", "google_vision")

#: Default order when no rule applies: fast printed-text engines first, Tesseract last.
_DEFAULT_ORDER: Final = ("rapidocr", "paddleocr", "tesseract", "doctr", "easyocr", "google_vision")
_PRINTED: Final = ("rapidocr", "paddleocr", "tesseract")
"""The engines for printed text, which the latency rule chooses among."""

_HEAVY_TYPES: Final = ("application/pdf", "image/tiff")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OCRHints(_Strict):
    """What is known about the documents, for the router."""

    layout: Literal["text", "table", "form", "screen"] | None = Field(
        default=None, description="'table' routes to docTR; 'screen' and 'form' with structured_json to OmniParser."
    )
    handwriting: bool = Field(default=False, description="The documents are handwritten: routes to EasyOCR.")
    structured_json: bool = Field(default=False, description="Screen or form elements as structured JSON: OmniParser.")
    latency: Literal["low", "normal"] = Field(default="normal", description="'low' prefers RapidOCR, then PaddleOCR.")
    region: str | None = Field(default=None, description="Data region, e.g. 'EU': keeps the document on local engines.")


class OCRExtractConfig(OCRHints):
    """How an ``ocr/extract`` node reads its documents."""

    engine: str | None = Field(
        default=None,
        description="Always use this engine ('rapidocr', or 'ocr-rapidocr/rapidocr'); the router decides when unset.",
    )
    fallback: bool = Field(default=True, description="Read again with Tesseract when the chosen engine finds no text.")
    languages: list[str] | None = Field(default=None, min_length=1, description="Language codes for the engine.")
    pages: list[int] | None = Field(default=None, min_length=1, description="1-based pages to read; all when unset.")
    latency_budget_ms: int = Field(
        default=1000,
        ge=0,
        description="Printed text: when the default engine has been reading a page slower than this here, the "
        "router picks a ready engine that reads faster (or times one not yet timed); 0 turns the rule off.",
    )
    heavy_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="A PDF or TIFF at least this large is 'heavy' (Google Vision when it is configured).",
    )
    engine_configs: dict[str, dict[str, JsonValue]] = Field(
        default_factory=dict,
        description="Config per engine name, e.g. {'doctr': {'weights_dir': '/models/doctr'}}; an engine whose "
        "config schema needs settings it lacks here is not ready and is never chosen.",
    )

    @field_validator("engine_configs")
    @classmethod
    def _known_engines(cls, value: dict[str, dict[str, JsonValue]]) -> dict[str, dict[str, JsonValue]]:
        unknown = sorted(set(value) - set(ENGINE_NAMES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not an OCR engine; use one of {', '.join(ENGINE_NAMES)}")
        return value


class OCRExtractInput(BaseModel):
    """The documents to read (one or several), and hints that override the node's for this run."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    document: dict[str, JsonValue] | None = Field(default=None, description="One blob reference.")
    documents: list[dict[str, JsonValue]] | None = Field(default=None, description="Several blob references.")
    job_id: str | None = Field(default=None, description="The OCR job the documents belong to (set by the API).")
    hints: dict[str, JsonValue] | None = Field(default=None, description="Config fields for this run only.")

    def refs(self, node_id: str) -> list[BlobRef]:
        """The documents as blob references.

        Raises:
            InputInvalid: Neither or both of 'document' and 'documents', or a bad reference.
        """
        raw = ([self.document] if self.document is not None else []) + list(self.documents or [])
        if not raw:
            raise InputInvalid(
                f"node '{node_id}': its input has no 'document' (a blob reference) or 'documents' (a list of them); "
                "upload the file to the blob store and pass its reference"
            )
        refs = []
        for index, item in enumerate(raw):
            try:
                refs.append(BlobRef.model_validate(item))
            except ValueError as exc:
                raise InputInvalid(
                    f"node '{node_id}': document {index} is not a blob reference ({exc}); pass "
                    '{"$blob": "sha256:...", "size": N, "mediaType": "..."}',
                    details={"index": index},
                ) from None
        return refs


class DocumentOutcome(_Strict):
    """One document read."""

    position: int
    document: dict[str, JsonValue]
    engine: str = Field(description="'plugin/capability' of the engine that produced the text.")
    engine_version: str = Field(description="What the engine reported, e.g. 'rapidocr 3.10.0'.")
    reason: str = Field(description="Why that engine, including any fallback.")
    text: str
    pages: int
    sources: list[str] = Field(description="Per page: 'ocr', 'text_layer' or 'mixed'.")
    confidence: float | None
    result: dict[str, JsonValue] = Field(description="Blob reference of the full OCRResult JSON.")
    duration_ms: int
    attempts: list[dict[str, JsonValue]]


class OCRExtractOutput(_Strict):
    """Every document's outcome, in input order; ``text`` joins them with form feeds."""

    documents: list[DocumentOutcome]
    text: str


@dataclass(frozen=True)
class ReadyEngine:
    """An installed engine the router may choose, with the config it is called with."""

    name: str
    ref: str
    config: dict[str, JsonValue]


@dataclass(frozen=True)
class DocumentFacts:
    """What the host knows about a document without opening it."""

    media_type: str
    size: int

    @classmethod
    def of(cls, ref: BlobRef) -> DocumentFacts:
        """The facts a blob reference carries."""
        return cls(media_type=ref.media_type, size=ref.size)


@dataclass(frozen=True)
class Decision:
    """The router's choice for a document."""

    engine: ReadyEngine
    reason: str
    fallback: ReadyEngine | None = None


def ready_engines(
    specs: Iterable[tuple[str, CapabilitySpec]], engine_configs: Mapping[str, Mapping[str, JsonValue]]
) -> tuple[dict[str, ReadyEngine], dict[str, str]]:
    """The OCR engines the router may use, and why each other installed one may not.

    Args:
        specs: ``(plugin, spec)`` of every enabled capability (newest version first wins).
        engine_configs: The configured settings per engine name.

    Returns:
        ``(ready, not_ready)``: ready engines by name; reasons by name for the rest.
    """
    ready: dict[str, ReadyEngine] = {}
    not_ready: dict[str, str] = {}
    for plugin, spec in specs:
        if spec.kind != CapabilityKind.OCR_ENGINE or spec.name in ready or spec.name in not_ready:
            continue
        config = dict(engine_configs.get(spec.name, {}))
        errors = sorted(Draft202012Validator(spec.config_schema).iter_errors(config), key=lambda e: e.message)
        if errors:
            not_ready[spec.name] = f"{spec.name} is installed but not ready: {errors[0].message}"
            continue
        ready[spec.name] = ReadyEngine(spec.name, f"{plugin}/{spec.name}", config)
    return ready, not_ready


def route(
    facts: DocumentFacts,
    config: OCRExtractConfig,
    ready: Mapping[str, ReadyEngine],
    not_ready: Mapping[str, str] | None = None,
    pace: Mapping[str, float] | None = None,
) -> Decision:
    """Choose the engine for one document, by the PRD's rules, among ``ready`` engines.

    Rules, first match wins: an explicit ``engine``; structured JSON → OmniParser; table
    layout → docTR; handwriting → EasyOCR; a heavy PDF or TIFF → Google Vision (never for a
    region-bound document); low latency or a region → RapidOCR, then PaddleOCR; otherwise
    RapidOCR, PaddleOCR, Tesseract in that order, unless the first has been reading a page
    slower than ``latency_budget_ms`` here (``pace``, ms per page by engine from
    :mod:`synthral.engine.ocr_pace`): then the fastest timed printed-text engine within the
    budget, else one not timed yet (to time it), else the fastest timed one. A rule whose
    engine is not ready is skipped, and the reason says so. Tesseract is the fallback for an
    empty result.

    Raises:
        ConfigurationError: The named engine is not ready, or no OCR engine is.
    """
    not_ready = not_ready or {}
    skipped: list[str] = []

    def fallback_for(chosen: ReadyEngine) -> ReadyEngine | None:
        tesseract = ready.get("tesseract")
        return tesseract if config.fallback and tesseract is not None and tesseract.name != chosen.name else None

    if config.engine:
        name = config.engine.rpartition("/")[2]
        if name not in ready:
            why = not_ready.get(name, f"no installed, enabled OCR engine is called {name!r}")
            raise ConfigurationError(
                f"config field 'engine' asks for {config.engine!r}: {why}; install or configure it, or leave "
                f"'engine' unset to let the router choose among {', '.join(sorted(ready)) or 'none'}",
                details={"engine": config.engine, "ready": ", ".join(sorted(ready))},
            )
        return Decision(ready[name], f"engine {name} set on the node", fallback_for(ready[name]))

    heavy = facts.media_type in _HEAVY_TYPES and facts.size >= config.heavy_bytes
    rules: list[tuple[bool, str, str]] = [
        (config.structured_json, "omniparser", "structured JSON required"),
        (config.layout == "table", "doctr", "table layout"),
        (config.handwriting, "easyocr", "handwriting"),
        (heavy and not config.region, "google_vision", f"heavy {facts.media_type} of {facts.size:,} bytes"),
        (config.latency == "low", "rapidocr", "low latency"),
        (config.latency == "low", "paddleocr", "low latency"),
        (config.region is not None, "rapidocr", f"region {config.region}: read on this machine"),
        (config.region is not None, "paddleocr", f"region {config.region}: read on this machine"),
    ]
    for applies, name, why in rules:
        if not applies:
            continue
        if name in ready:
            note = f" ({'; '.join(skipped)})" if skipped else ""
            return Decision(ready[name], f"{why} → {name}{note}", fallback_for(ready[name]))
        skipped.append(f"{why} wants {name}, which {_absent(name, not_ready)}")
    for name in _DEFAULT_ORDER:
        if name in ready:
            note = f" ({'; '.join(skipped)})" if skipped else ""
            paced = _paced(name, config.latency_budget_ms, ready, pace or {})
            if paced is not None:
                chosen, why = paced
                return Decision(ready[chosen], f"printed text → {chosen}: {why}{note}", fallback_for(ready[chosen]))
            return Decision(
                ready[name], f"printed text → {name}, the first ready default{note}", fallback_for(ready[name])
            )
    if ready:
        name = sorted(ready)[0]
        return Decision(ready[name], f"the only kind of engine ready → {name}", fallback_for(ready[name]))
    raise ConfigurationError(
        "no OCR engine is installed and ready; install one ('synthral plugin install ocr-rapidocr')"
        + (f" or finish configuring one ({'; '.join(not_ready.values())})" if not_ready else ""),
        details={"not_ready": dict(not_ready)},
    )


def _paced(
    first: str, budget: int, ready: Mapping[str, ReadyEngine], pace: Mapping[str, float]
) -> tuple[str, str] | None:
    """Another printed-text engine and why, when ``first`` reads slower than ``budget`` ms a page here."""
    slow = pace.get(first)
    if not budget or first not in _PRINTED or slow is None or slow <= budget:
        return None
    others = [name for name in _PRINTED if name != first and name in ready]
    timed = sorted((pace[name], name) for name in others if name in pace and pace[name] < slow)
    untimed = [name for name in others if name not in pace]
    over = f"{first} has been reading a page in {slow:,.0f} ms here, over the {budget:,} ms budget"
    if timed and timed[0][0] <= budget:
        return timed[0][1], f"{over}; {timed[0][1]} in {timed[0][0]:,.0f} ms"
    if untimed:
        return untimed[0], f"{over}; timing {untimed[0]}, not yet timed here"
    if timed:
        return timed[0][1], f"{over}; {timed[0][1]} is faster ({timed[0][0]:,.0f} ms)"
    return None


def _absent(name: str, not_ready: Mapping[str, str]) -> str:
    return "is not ready" if name in not_ready else "is not installed"


Invoke = Callable[[ReadyEngine, dict[str, Any], str], Awaitable[Any]]
"""Read one document with an engine: ``(engine, request, attempt label) -> OCRResult JSON``."""


@dataclass
class _Attempt:
    engine: str
    ok: bool
    ms: int
    note: str
    result: OCRResult | None = field(default=None, repr=False)


async def read_document(
    position: int,
    *,
    ref: BlobRef,
    config: OCRExtractConfig,
    decision: Decision,
    invoke: Invoke,
    blobs: BlobStore,
    pace: EnginePace | None = None,
) -> DocumentOutcome:
    """Read ``ref`` with the decided engine; fall back to Tesseract when it finds no text.

    Each engine that reads the document adds its time per page to ``pace`` (the router's
    latency rule reads it).

    Raises:
        SynthralError: The engine (and the fallback, when one ran) failed.
    """
    started = time.perf_counter()
    request: dict[str, Any] = {"document": ref.to_json()}
    if config.languages:
        request["languages"] = config.languages
    if config.pages:
        request["pages"] = config.pages
    attempts: list[_Attempt] = []
    reason = decision.reason
    final: _Attempt | None = None
    for engine in [decision.engine, decision.fallback]:
        if engine is None:
            continue
        attempt_started = time.perf_counter()
        try:
            output = await invoke(engine, request, f"{position}:{engine.name}")
        except DatabaseUnavailable:
            raise  # not the engine's fault: no fallback, the run resumes when the database is back
        except SynthralError as exc:
            attempts.append(_Attempt(engine.ref, False, _ms(attempt_started), f"{exc.error_type}: {exc.message}"))
            if engine is decision.engine and _worth_falling_back(exc) and decision.fallback is not None:
                reason += f"; {engine.name} failed ({exc.message}) → fell back to {decision.fallback.name}"
                continue
            raise
        result = OCRResult.model_validate(output)
        attempt = _Attempt(engine.ref, True, _ms(attempt_started), "ok" if result.text.strip() else "empty", result)
        if pace is not None:
            pace.record(engine.name, attempt.ms, len(result.pages))
        attempts.append(attempt)
        final = attempt
        if result.text.strip() or decision.fallback is None or engine is decision.fallback:
            break
        reason += f"; {engine.name} found no text → fell back to {decision.fallback.name}"
    if final is None or final.result is None:  # pragma: no cover - the loop ran an engine or raised
        raise RuntimeError("no engine ran")
    result = final.result
    if not result.text.strip() and len(attempts) > 1 and attempts[0].result is not None:
        reason += "; the fallback found none either"
    data = orjson.dumps(result.model_dump(mode="json"))
    stored = blobs.put(data, media_type="application/json", name="ocr-result.json")
    words = [word.confidence for page in result.pages for block in page.blocks for word in block.words]
    return DocumentOutcome(
        position=position,
        document=ref.to_json(),
        engine=final.engine,
        engine_version=result.engine,
        reason=reason,
        text=result.text,
        pages=len(result.pages),
        sources=[page.source for page in result.pages],
        confidence=round(sum(words) / len(words), 4) if words else None,
        result=stored.to_json(),
        duration_ms=_ms(started),
        attempts=[{"engine": a.engine, "ok": a.ok, "ms": a.ms, "note": a.note} for a in attempts],
    )


def _worth_falling_back(exc: SynthralError) -> bool:
    """An engine broken for its own reasons (not the document's) leaves the fallback a chance."""
    return exc.error_type not in {"InputInvalid", "Cancelled", "DeadlineExceeded"}


def _ms(since: float) -> int:
    return round((time.perf_counter() - since) * 1000)


def effective_config(config: OCRExtractConfig, hints: Mapping[str, JsonValue] | None, node_id: str) -> OCRExtractConfig:
    """The node's config with a run's hints laid over it.

    Raises:
        InputInvalid: A hint is not a config field or has a bad value.
    """
    if not hints:
        return config
    try:
        return OCRExtractConfig.model_validate({**config.model_dump(), **hints})
    except ValueError as exc:
        raise InputInvalid(f"node '{node_id}': input 'hints' is not valid: {exc}") from None


def outcomes_text(outcomes: Sequence[DocumentOutcome]) -> str:
    """The documents' texts joined with form feeds."""
    return "\f".join(outcome.text for outcome in outcomes)


class DocumentFailure(_Strict):
    """A document that could not be read."""

    position: int
    document: dict[str, JsonValue]
    engine: str | None
    reason: str | None
    error: str
    error_type: str


class OCRExtractResult(OCRExtractOutput):
    """What the node returns: the documents read and those that failed."""

    failed: list[DocumentFailure] = Field(default_factory=list)
    job_id: str


# -- recording ------------------------------------------------------------------------------


def record_job(
    connection: Connection,
    *,
    job_id: str,
    refs: Sequence[BlobRef],
    execution_id: str | None,
    workspace_id: str | None = None,
    requested_by: str | None = None,
    engine: str | None = None,
    options: Mapping[str, JsonValue] | None = None,
    status: str = OCRJobStatus.QUEUED,
) -> None:
    """Create the job and its documents if they do not exist yet (a retried step finds them)."""
    if connection.execute(select(JOB.c.id).where(JOB.c.id == job_id)).first() is not None:
        return
    connection.execute(
        insert(JOB).values(
            id=job_id,
            workspace_id=workspace_id,
            execution_id=execution_id,
            requested_by=requested_by,
            status=status,
            engine=engine,
            options=dict(options or {}),
            document_count=len(refs),
            created_at=utcnow(),
        )
    )
    connection.execute(
        insert(DOC),
        [
            {
                "id": new_id(),
                "job_id": job_id,
                "position": position,
                "blob": ref.digest,
                "size": ref.size,
                "media_type": ref.media_type,
                "name": ref.name,
                "status": OCRJobStatus.QUEUED,
            }
            for position, ref in enumerate(refs)
        ],
    )


def record_started(connection: Connection, job_id: str, position: int, decision: Decision) -> None:
    """A document was routed and is being read."""
    now = utcnow()
    connection.execute(
        update(JOB).where(JOB.c.id == job_id, JOB.c.started_at.is_(None)).values(started_at=now, status="running")
    )
    connection.execute(
        update(DOC)
        .where(DOC.c.job_id == job_id, DOC.c.position == position)
        .values(status=OCRJobStatus.RUNNING, engine=decision.engine.ref, reason=decision.reason, started_at=now)
    )


def record_outcome(
    connection: Connection, job_id: str, outcome: DocumentOutcome, *, workspace_id: str | None = None
) -> None:
    """A document was read: its result row and its final decision; ``workspace_id`` may name the result's blob."""
    row = connection.execute(select(DOC.c.id).where(DOC.c.job_id == job_id, DOC.c.position == outcome.position)).first()
    if row is None:
        return
    connection.execute(
        update(DOC)
        .where(DOC.c.id == row.id)
        .values(
            status=OCRJobStatus.COMPLETED,
            engine=outcome.engine,
            reason=outcome.reason,
            attempts=outcome.attempts,
            page_count=outcome.pages,
            duration_ms=outcome.duration_ms,
            completed_at=utcnow(),
        )
    )
    connection.execute(delete(RESULT).where(RESULT.c.document_id == row.id))
    ref = BlobRef.model_validate(outcome.result)
    if workspace_id is not None:
        grant_blobs(connection, workspace_id, [ref.digest])
    connection.execute(
        insert(RESULT).values(
            id=new_id(),
            document_id=row.id,
            engine=outcome.engine_version,
            text=outcome.text,
            result_blob=ref.digest,
            result_size=ref.size,
            page_sources=outcome.sources,
            confidence=outcome.confidence,
            created_at=utcnow(),
        )
    )


def record_failure(connection: Connection, job_id: str, failure: DocumentFailure) -> None:
    """A document could not be read."""
    connection.execute(
        update(DOC)
        .where(DOC.c.job_id == job_id, DOC.c.position == failure.position)
        .values(
            status=OCRJobStatus.FAILED,
            engine=failure.engine,
            reason=failure.reason,
            error=f"{failure.error_type}: {failure.error}",
            completed_at=utcnow(),
        )
    )


def record_finished(connection: Connection, job_id: str, error: str | None = None) -> None:
    """Every document is done; the job failed when none could be read."""
    connection.execute(
        update(JOB)
        .where(JOB.c.id == job_id)
        .values(
            status=OCRJobStatus.FAILED if error else OCRJobStatus.COMPLETED,
            error=error,
            completed_at=utcnow(),
        )
    )


# -- the node --------------------------------------------------------------------------------

Write = Callable[[Callable[[Connection], Any]], Awaitable[Any]]
"""Commit a synchronous database operation now."""


async def extract(
    *,
    node_id: str,
    config: OCRExtractConfig,
    payload: Mapping[str, Any],
    specs: Iterable[tuple[str, CapabilitySpec]],
    invoke: Invoke,
    write: Write,
    blobs: BlobStore,
    default_job_id: str,
    execution_id: str | None,
    workspace_id: str | None = None,
    concurrency: int = 2,
    pace: EnginePace = PACE,
) -> OCRExtractResult:
    """Route and read every document of an ``ocr/extract`` node, recording each outcome.

    ``workspace_id`` (the run's, or the API caller's) is granted each result's blob.

    Raises:
        InputInvalid: The input names no document, or a bad one.
        ConfigurationError: No engine is ready (or the named one is not).
        SynthralError: Every document failed (the first error).
    """
    try:
        parsed = OCRExtractInput.model_validate(dict(payload))
    except ValueError as exc:
        raise InputInvalid(f"node '{node_id}': its input is not valid: {exc}") from None
    refs = parsed.refs(node_id)
    config = effective_config(config, parsed.hints, node_id)
    ready, not_ready = ready_engines(specs, config.engine_configs)
    job_id = parsed.job_id or default_job_id
    await write(
        lambda c: record_job(
            c, job_id=job_id, refs=refs, execution_id=execution_id, engine=config.engine, status="running"
        )
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(position: int, ref: BlobRef) -> DocumentOutcome | DocumentFailure:
        async with gate:
            decision: Decision | None = None
            try:
                decision = route(DocumentFacts.of(ref), config, ready, not_ready, pace.per_page())
                chosen = decision
                await write(lambda c: record_started(c, job_id, position, chosen))
                outcome = await read_document(
                    position, ref=ref, config=config, decision=decision, invoke=invoke, blobs=blobs, pace=pace
                )
            except DatabaseUnavailable:
                raise
            except SynthralError as exc:
                failure = DocumentFailure(
                    position=position,
                    document=ref.to_json(),
                    engine=decision.engine.ref if decision else None,
                    reason=decision.reason if decision else None,
                    error=exc.message,
                    error_type=exc.error_type,
                )
                await write(lambda c: record_failure(c, job_id, failure))
                return failure
            await write(lambda c: record_outcome(c, job_id, outcome, workspace_id=workspace_id))
            return outcome

    results = await asyncio.gather(*(one(position, ref) for position, ref in enumerate(refs)))
    outcomes = [r for r in results if isinstance(r, DocumentOutcome)]
    failures = [r for r in results if isinstance(r, DocumentFailure)]
    error = None
    if not outcomes:
        first = failures[0]
        error = f"{first.error_type}: {first.error}"
    await write(lambda c: record_finished(c, job_id, error))
    if not outcomes:
        first = failures[0]
        raise _error_of(first)
    return OCRExtractResult(documents=outcomes, failed=failures, text=outcomes_text(outcomes), job_id=job_id)


def _error_of(failure: DocumentFailure) -> SynthralError:
    cls = {"InputInvalid": InputInvalid, "ConfigurationError": ConfigurationError}.get(failure.error_type)
    message = failure.error if failure.position == 0 else f"document {failure.position}: {failure.error}"
    if cls is not None:
        return cls(message, details={"position": failure.position})
    return NonRetryableError(message, details={"position": failure.position, "error_type": failure.error_type})
