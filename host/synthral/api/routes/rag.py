"""Retrieval: indexes and their documents, queries, and the store router's decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral.api.access import Editor, Viewer
from synthral.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor, text_cursor
from synthral.api.state import ServerState, server_of
from synthral.errors import Forbidden, InputInvalid
from synthral.services.rag_models import (
    DocumentIn,
    DocumentOutcome,
    IndexInfo,
    IndexSpec,
    SearchResult,
    SwitchLogEntry,
)
from synthral.services.rag_router import Candidate, Decision, RoutingFacts
from synthral.store.tables import Role
from synthral_sdk.types import JSONValue

__all__ = ["router"]

router = APIRouter(prefix="/rag", tags=["rag"])
Server = Annotated[ServerState, Depends(server_of)]


class IndexRequest(IndexSpec):
    """Create an index (if new) and change its documents."""

    documents: list[DocumentIn] = Field(
        default_factory=list, max_length=1000, description="Ingested in order; a known key with new text replaces it."
    )
    delete: list[str] = Field(default_factory=list, max_length=1000, description="Keys of documents to remove.")


class DecisionOut(BaseModel):
    """A router decision."""

    store: str
    rule: str
    reason: str
    candidates: list[dict[str, JsonValue]]


class IndexResponse(BaseModel):
    """The index after the request, what happened to each document, and the router's decision if it was new."""

    index: IndexInfo
    decision: DecisionOut | None
    documents: list[DocumentOutcome]


class QueryRequest(BaseModel):
    """A question for an index."""

    model_config = ConfigDict(extra="forbid")

    index: str
    query: str = Field(min_length=1, max_length=10_000)
    top_k: int = Field(default=5, ge=1, le=100)
    filter: dict[str, str | int | float | bool | list[str | int | float | bool]] | None = None
    mode: Literal["vector", "hybrid"] = "vector"
    embedder: str | None = Field(default=None, description="If given, it must be the index's own embedder.")


class EvaluateRequest(RoutingFacts):
    """Facts to route, and optionally the store a person would choose, or the index to re-evaluate."""

    store: str | None = Field(default=None, description="An override to check ('plugin/capability' or a name).")
    index: str | None = Field(default=None, description="An existing index: what the router would choose now.")


def _candidate(c: Candidate) -> dict[str, JsonValue]:
    return {"ref": c.ref, "name": c.name, "usable": c.usable, "why_not": c.why_not}


def _decision(d: Decision) -> DecisionOut:
    return DecisionOut(store=d.store, rule=d.rule, reason=d.reason, candidates=[_candidate(c) for c in d.candidates])


@router.post("/index", response_model=IndexResponse)
async def put_index(body: IndexRequest, access: Editor, server: Server) -> IndexResponse:
    """Create or update an index: the router picks the store of a new one (unless ``store`` is given).

    A store's or embedder's config names folders, hosts and URLs the server's plugins will
    use; on a shared server only a workspace owner may give one (editors get the operator's,
    ``SYNTHRAL_RAG_STORES``).
    """
    given: list[JSONValue] = [f for f in ("store_config", "embedder_config") if getattr(body, f) is not None]
    if given and not server.local and not access.allows(Role.OWNER):
        raise Forbidden(
            f"{' and '.join(map(str, given))} need the owner role in the workspace; leave them out to use the server's "
            "configured stores and embedders",
            details={"fields": given, "needed": Role.OWNER},
        )
    spec = IndexSpec.model_validate(body.model_dump(include=set(IndexSpec.model_fields), exclude_unset=True))
    info, decision, outcomes = await server.app.rag_service().apply(
        access.workspace_id, spec, documents=body.documents, delete=body.delete, owner_id=access.principal.user_id
    )
    return IndexResponse(
        index=info,
        decision=_decision(decision) if decision is not None else None,
        documents=outcomes,
    )


@router.get("/indexes", response_model=Page[IndexInfo])
async def list_indexes(access: Viewer, server: Server, limit: Limit = 50, cursor: Cursor = None) -> Page[IndexInfo]:
    """The workspace's indexes, by name."""
    items, last = await server.app.rag_service().list_indexes(
        access.workspace_id, limit=limit, after=text_cursor(cursor)
    )
    return Page(items=items, next_cursor=encode_cursor(last) if last is not None else None)


@router.get("/indexes/{name}", response_model=IndexInfo)
async def get_index(name: str, access: Viewer, server: Server) -> IndexInfo:
    """One index."""
    return await server.app.rag_service().get_index(access.workspace_id, name)


@router.delete("/indexes/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_index(name: str, access: Editor, server: Server) -> Response:
    """Delete an index with its chunks in the store."""
    await server.app.rag_service().delete_index(access.workspace_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/indexes/{name}/documents/{key:path}", response_model=DocumentOutcome)
async def delete_document(name: str, key: str, access: Editor, server: Server) -> DocumentOutcome:
    """Remove one document and its chunks."""
    return (await server.app.rag_service().delete_documents(access.workspace_id, name, [key]))[0]


@router.post("/query", response_model=SearchResult)
async def query(body: QueryRequest, access: Viewer, server: Server) -> SearchResult:
    """The chunks nearest to the query, best first (logged)."""
    return await server.app.rag_service().query(
        access.workspace_id,
        body.index,
        body.query,
        top_k=body.top_k,
        filter=body.filter,
        mode=body.mode,
        embedder=body.embedder,
        user_id=access.principal.user_id,
    )


@router.post("/switch/evaluate", response_model=DecisionOut)
async def evaluate(body: EvaluateRequest, access: Editor, server: Server) -> DecisionOut:
    """Which store the router would choose for these facts, and why (logged)."""
    facts = RoutingFacts.model_validate(body.model_dump(include=set(RoutingFacts.model_fields)))
    decision = await server.app.rag_service().evaluate(
        access.workspace_id, facts, override=body.store, index=body.index
    )
    return _decision(decision)


@router.get("/switch/logs", response_model=Page[SwitchLogEntry])
async def switch_logs(
    access: Viewer,
    server: Server,
    index: Annotated[str | None, Query(description="Only this index's decisions.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SwitchLogEntry]:
    """The router's decisions in the workspace, newest first."""
    after = _log_cursor(cursor)
    items, last = await server.app.rag_service().switch_logs(access.workspace_id, index=index, limit=limit, after=after)
    next_cursor = encode_cursor([last[0].isoformat(), last[1]]) if last is not None else None
    return Page(items=items, next_cursor=next_cursor)


def _log_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        when, log_id = value
        return datetime.fromisoformat(when), str(log_id)
    except (TypeError, ValueError):
        raise InputInvalid("the cursor is not one this server made; pass next_cursor from the previous page") from None
