"""Workflows and their versions in the database: save, look up, start runs of them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.engine import state
from synthral.engine.engine_nodes import SubworkflowConfig
from synthral.engine.model import Workflow
from synthral.errors import ConfigurationError
from synthral.store.tables import WORKFLOW, WORKFLOW_VERSION, new_id, utcnow

if TYPE_CHECKING:
    from synthral.engine.runtime import RunContext

__all__ = ["SavedVersion", "WorkflowNotFound", "get_version", "get_workflow_row", "save_workflow", "start_child"]


class WorkflowNotFound(ConfigurationError):
    """No workflow (or version) by that name or id."""

    code = "workflow_not_found"


@dataclass(frozen=True)
class SavedVersion:
    """A workflow version as stored."""

    workflow_id: str
    name: str
    version: int
    workflow: Workflow
    plugin_versions: dict[str, str]
    created: bool
    workspace_id: str | None = None


def digest(workflow: Workflow) -> str:
    """A stable hash of the stored form: equal graphs, equal digests."""
    return hashlib.sha256(orjson.dumps(workflow.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


async def get_workflow_row(connection: AsyncConnection, name_or_id: str, workspace_id: str | None = None) -> Any:
    """The workflow row by id or name.

    With ``workspace_id``, only that workspace's workflows are found. Without, an id finds any
    workflow and a name only the local ones (those outside every workspace).

    Raises:
        WorkflowNotFound: There is none (in that workspace).
    """
    if workspace_id is None:
        match = (WORKFLOW.c.id == name_or_id) | (WORKFLOW.c.workspace_id.is_(None) & (WORKFLOW.c.name == name_or_id))
    else:
        match = (WORKFLOW.c.workspace_id == workspace_id) & (
            (WORKFLOW.c.id == name_or_id) | (WORKFLOW.c.name == name_or_id)
        )
    row = (await connection.execute(select(WORKFLOW).where(match))).first()
    if row is None:
        raise WorkflowNotFound(
            f"no workflow named {name_or_id!r}; save it first (synthral run FILE saves and runs it)",
            details={"workflow": name_or_id},
        )
    return row


async def get_version(connection: AsyncConnection, workflow_id: str, version: int | None = None) -> SavedVersion:
    """One version (the latest when ``version`` is None).

    Raises:
        WorkflowNotFound: The workflow or the version does not exist.
    """
    query = (
        select(WORKFLOW_VERSION, WORKFLOW.c.name, WORKFLOW.c.workspace_id)
        .join(WORKFLOW, WORKFLOW.c.id == WORKFLOW_VERSION.c.workflow_id)
        .where(WORKFLOW_VERSION.c.workflow_id == workflow_id)
    )
    if version is None:
        query = query.order_by(WORKFLOW_VERSION.c.version.desc()).limit(1)
    else:
        query = query.where(WORKFLOW_VERSION.c.version == version)
    row = (await connection.execute(query)).first()
    if row is None:
        raise WorkflowNotFound(f"workflow {workflow_id} has no version {version}", details={"version": version})
    return SavedVersion(
        workflow_id=workflow_id,
        name=row.name,
        version=row.version,
        workflow=Workflow.model_validate(row.graph),
        plugin_versions=dict(row.plugin_versions or {}),
        created=False,
        workspace_id=row.workspace_id,
    )


async def save_workflow(
    connection: AsyncConnection,
    workflow: Workflow,
    plugin_versions: dict[str, str],
    *,
    owner_id: str | None = None,
    workspace_id: str | None = None,
) -> SavedVersion:
    """Store ``workflow`` in ``workspace_id`` as a new version, unless the latest is the same graph.

    The caller validates first. Versions are immutable: a change is always a new vN. A name
    names one workflow per workspace (None: the local workflows).
    """
    now = utcnow()
    graph = workflow.model_dump(mode="json")
    graph_digest = digest(workflow)
    scope = WORKFLOW.c.workspace_id.is_(None) if workspace_id is None else WORKFLOW.c.workspace_id == workspace_id
    existing = (await connection.execute(select(WORKFLOW).where(scope, WORKFLOW.c.name == workflow.name))).first()
    if existing is None:
        workflow_id = new_id()
        await connection.execute(
            insert(WORKFLOW).values(
                id=workflow_id,
                name=workflow.name,
                description=workflow.description,
                owner_id=owner_id,
                workspace_id=workspace_id,
                is_active=True,
                version=1,
                trigger_config=graph["triggers"],
                graph_config=graph,
                created_at=now,
                updated_at=now,
            )
        )
        number = 1
    else:
        workflow_id = existing.id
        latest = (
            await connection.execute(
                select(WORKFLOW_VERSION.c.version, WORKFLOW_VERSION.c.digest, WORKFLOW_VERSION.c.plugin_versions)
                .where(WORKFLOW_VERSION.c.workflow_id == workflow_id)
                .order_by(WORKFLOW_VERSION.c.version.desc())
                .limit(1)
            )
        ).first()
        if (
            latest is not None
            and latest.digest == graph_digest
            and dict(latest.plugin_versions or {}) == plugin_versions
        ):
            return SavedVersion(
                workflow_id, workflow.name, latest.version, workflow, plugin_versions, False, workspace_id
            )
        number = (latest.version if latest is not None else 0) + 1
        await connection.execute(
            update(WORKFLOW)
            .where(WORKFLOW.c.id == workflow_id)
            .values(
                version=number,
                description=workflow.description,
                trigger_config=graph["triggers"],
                graph_config=graph,
                updated_at=now,
            )
        )
    await connection.execute(
        insert(WORKFLOW_VERSION).values(
            id=new_id(),
            workflow_id=workflow_id,
            version=number,
            graph=graph,
            plugin_versions=plugin_versions,
            digest=graph_digest,
            created_at=now,
        )
    )
    return SavedVersion(workflow_id, workflow.name, number, workflow, plugin_versions, True, workspace_id)


async def start_child(
    ctx: RunContext, config: SubworkflowConfig, child_id: str, node_id: str, payload: dict[str, Any]
) -> None:
    """Queue a sub-workflow run with a deterministic id, committed with the parent's next write."""
    async with ctx.engine.database.engine.connect() as connection:
        row = await get_workflow_row(connection, config.workflow, ctx.workspace_id)
        version = await get_version(connection, row.id, config.version)

    run = state.NewRun(
        workflow_id=version.workflow_id,
        workflow_version=version.version,
        input=payload,
        trigger="subworkflow",
        parent_execution_id=ctx.execution_id,
        parent_node_id=node_id,
        execution_id=child_id,
    )
    database = ctx.engine.database

    def op(connection: Connection) -> None:
        state.enqueue_new(database, connection, [run])  # idempotent: the id is the child's

    ctx.defer(op)
