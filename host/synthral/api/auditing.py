"""Recording an act in the audit log from a route: the actor and the client's address from the request."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from synthral.api.access import Access
from synthral.api.state import ServerState
from synthral.services.accounts import Principal

__all__ = ["audit"]


async def audit(
    request: Request,
    actor: Access | Principal | None,
    action: str,
    *,
    workspace_id: str | None = None,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    actor_id: str | None = None,
) -> None:
    """Append ``action`` to the audit log; a failure to write is logged, never raised.

    ``actor_id`` names the actor when no principal is known yet (a sign-in).
    """
    principal = actor.principal if isinstance(actor, Access) else actor
    if workspace_id is None and isinstance(actor, Access):
        workspace_id = actor.workspace_id
    kind = "api_key" if principal is not None and principal.method == "api_key" else "user"
    if principal is None and actor_id is None:
        kind = "anonymous"
    server: ServerState = request.app.state.server
    await server.audit.record_quietly(
        action,
        workspace_id=workspace_id,
        actor_id=principal.user_id if principal is not None else actor_id,
        actor_kind=kind,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        ip=request.client.host if request.client else None,
        details=details,
    )
