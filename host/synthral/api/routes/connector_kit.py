"""Connector docs and the connector test runner.

Registered before the connectors router: its ``POST /connectors/{slug}/{action}`` would
otherwise take ``/test`` for an action's name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from synthral.api.access import Editor, Viewer
from synthral.api.state import ServerState, server_of
from synthral.services.connector_docs import ConnectorDocs, render_docs

__all__ = ["router"]

router = APIRouter(prefix="/connectors", tags=["connectors"])
Server = Annotated[ServerState, Depends(server_of)]


class ConnectorDocsView(BaseModel):
    """A connector's generated documentation."""

    slug: str
    plugin: str
    version: str
    markdown: str
    actions: list[dict[str, Any]]


class TestRequest(BaseModel):
    """What to test: an action with an input (its first example when absent), or the connection."""

    model_config = {"extra": "forbid"}

    action: str | None = Field(default=None, max_length=100, description="None tests the connection.")
    input: dict[str, Any] | None = Field(default=None, description="The action's input; its example when absent.")
    config: dict[str, Any] | None = Field(default=None, description="The action's config, e.g. base_url.")
    version: str | None = Field(
        default=None, max_length=64, description="An installed version; the newest when absent."
    )


class TestResultView(BaseModel):
    """The outcome: the service's answer or its error, and the time the call took."""

    connector: str
    plugin: str
    version: str
    action: str
    ok: bool
    duration_ms: float
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    input: dict[str, Any]


@router.get("/{slug}/docs", response_model=ConnectorDocsView)
async def connector_docs(slug: str, access: Viewer, server: Server) -> ConnectorDocsView:
    """Documentation generated from the installed connector: auth, actions with inputs and outputs, triggers."""
    del access
    catalog = server.connectors.catalog
    connector = catalog.get(slug)
    actions = catalog.actions(connector)
    examples = {
        a.spec.name: [x for x in a.spec.extra.get("examples") or [] if isinstance(x, dict)]  # type: ignore[union-attr]
        for a in actions
    }
    docs = ConnectorDocs(
        connector.spec,
        [a.spec for a in actions],
        catalog.triggers(connector),
        connector.plugin,
        connector.version,
        examples,
    )
    return ConnectorDocsView(
        slug=slug,
        plugin=connector.plugin,
        version=connector.version,
        markdown=render_docs(docs),
        actions=[a.spec.wire() for a in actions],
    )


@router.post("/{slug}/test", response_model=TestResultView)
async def test_connector(slug: str, body: TestRequest, access: Editor, server: Server) -> TestResultView:
    """Call one action (or the connection check) now with the workspace's credential for the connector."""
    result = await server.connectors.test(
        access.workspace_id, slug, action=body.action, payload=body.input, config=body.config, version=body.version
    )
    return TestResultView(**result.__dict__)
