"""The palette: every node type the workspace can use, with schemas, handles, icons and versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from synthral.api.access import Viewer
from synthral.api.pagination import Cursor, Page, encode_cursor, text_cursor
from synthral.api.state import ServerState, server_of
from synthral.services.nodes import NodeTypeInfo, palette

__all__ = ["router"]

router = APIRouter(prefix="/nodes", tags=["nodes"])
Server = Annotated[ServerState, Depends(server_of)]


@router.get("", response_model=Page[NodeTypeInfo])
async def list_node_types(
    access: Viewer,
    server: Server,
    q: Annotated[str | None, Query(max_length=200, description="Text to find in type, title, description.")] = None,
    kind: Annotated[str | None, Query(max_length=40, description="Only this kind: node, connector… or engine.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page.")] = 500,
    cursor: Cursor = None,
) -> Page[NodeTypeInfo]:
    """Every node type: built-in, engine, and each enabled plugin's capabilities, by type."""
    del access
    items = palette(server.app.plugins, query=q, kind=kind)
    after = text_cursor(cursor)
    if after is not None:
        items = [item for item in items if item.type > after]
    page = items[:limit]
    return Page(items=page, next_cursor=encode_cursor(page[-1].type) if len(items) > limit else None)
