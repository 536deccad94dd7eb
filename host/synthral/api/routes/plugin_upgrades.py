"""Plugin upgrades proven by replay: check a new version against recorded runs, apply it, roll it back.

The check installs the version beside the old one (from the package index when it is not
installed yet; upload a wheel first with ``POST /api/v1/plugins`` otherwise) and replays the
workspace's recorded steps against it. Applying re-pins the workspace's workflows. Plugins
are shared by the server's workspaces, so all three need the owner role.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from synthral.api.access import Owner
from synthral.api.auditing import audit
from synthral.api.state import ServerState, server_of
from synthral.errors import ApprovalRequired, InputInvalid, PluginNotFound, UpgradeNotClean
from synthral.plugins.permissions import GrantRequest
from synthral.services.plugin_pins import PluginUpgrades
from synthral.services.plugin_upgrade import DEFAULT_SAMPLES, MAX_SAMPLES

__all__ = ["router"]

router = APIRouter(prefix="/plugins", tags=["plugins"])
Server = Annotated[ServerState, Depends(server_of)]

VERSION = Field(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$", description="The version to upgrade to."
)
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class UpgradeCheck(BaseModel):
    """What to check."""

    version: str = VERSION
    samples: int = Field(
        default=DEFAULT_SAMPLES, ge=1, le=MAX_SAMPLES, description="Recorded steps replayed per capability."
    )
    grant: list[Annotated[str, Field(max_length=500)]] | None = Field(
        default=None,
        max_length=64,
        description="Permissions granted to what the new version declares beyond the old one's grant.",
    )


class UpgradeApply(UpgradeCheck):
    """What to apply."""

    workflows: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=500, description="Workflow ids to re-pin; empty: every one using the plugin."
    )
    accept_changes: bool = Field(default=False, description="Re-pin even though the check found differences.")


def _upgrades(server: ServerState) -> PluginUpgrades:
    app = server.app
    return PluginUpgrades(app.plugins, app.database, app.engine.secrets)


def _checked_name(name: str) -> str:
    if not re.match(NAME, name):
        raise PluginNotFound(f"no plugin named {name[:120]!r}")
    return name


def _api_fix(exc: ApprovalRequired) -> ApprovalRequired:
    missing = exc.details.get("missing")
    items = ", ".join(repr(item) for item in missing) if isinstance(missing, list) else "what it asks for"
    exc.message = exc.message.split(" Nothing was installed", 1)[0] + (
        f' Nothing was installed; send the field "grant": [{items}] with the same request to grant it'
    )
    exc.args = (exc.message,)
    return exc


@router.post("/{name}/upgrade-check")
async def check_upgrade(name: str, body: UpgradeCheck, access: Owner, server: Server) -> dict[str, Any]:
    """Install ``version`` beside the old one and replay recorded steps of this workspace against it.

    The report counts identical, changed (with a JSON Patch), failing and incompatible samples;
    no history is a report saying so.
    """
    try:
        report = await _upgrades(server).check(
            _checked_name(name),
            body.version,
            samples=body.samples,
            workspace_id=access.workspace_id,
            grant=GrantRequest(items=body.grant),
        )
    except ApprovalRequired as exc:
        raise _api_fix(exc) from None
    return dict(report.to_json())


@router.post("/{name}/upgrade")
async def apply_upgrade(
    name: str, body: UpgradeApply, request: Request, access: Owner, server: Server
) -> dict[str, Any]:
    """Re-pin this workspace's workflows to ``version`` when a fresh check is clean, or ``accept_changes`` is true."""
    try:
        applied = await _upgrades(server).apply(
            _checked_name(name),
            body.version,
            workflows=body.workflows,
            accept_changes=body.accept_changes,
            samples=body.samples,
            workspace_id=access.workspace_id,
            grant=GrantRequest(items=body.grant),
            actor=access.principal.email,
        )
    except ApprovalRequired as exc:
        raise _api_fix(exc) from None
    except UpgradeNotClean as exc:
        exc.message = exc.message.replace(
            "apply again accepting them", 'send the same request with "accept_changes": true to re-pin anyway'
        )
        exc.args = (exc.message,)
        raise
    except InputInvalid as exc:
        if "leave it out of the upgrade" in exc.message:
            exc.message = exc.message.replace("leave it out of the upgrade", 'leave it out of "workflows"')
            exc.args = (exc.message,)
        raise
    await audit(request, access, "plugin.upgrade", workspace_id=access.workspace_id, target_type="plugin",
                target_id=f"{name}=={body.version}",
                details={"workflows": [w.workflow_id for w in applied.workflows],
                         "accept_changes": body.accept_changes})  # fmt: skip
    return dict(applied.to_json())


@router.post("/{name}/rollback")
async def rollback_upgrade(name: str, request: Request, access: Owner, server: Server) -> dict[str, Any]:
    """Restore the plugin versions the latest applied upgrade replaced in this workspace's workflows."""
    applied = await _upgrades(server).rollback(_checked_name(name), workspace_id=access.workspace_id)
    await audit(request, access, "plugin.rollback", workspace_id=access.workspace_id, target_type="plugin",
                target_id=name, details={"workflows": [w.workflow_id for w in applied.workflows]})  # fmt: skip
    return dict(applied.to_json())
