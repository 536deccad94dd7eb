"""Who is asking, in which workspace, with which role: the checks every route makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from synthral.errors import AuthenticationFailed, Forbidden, NotFound
from synthral.services.accounts import Principal
from synthral.services.identity import IdentityService
from synthral.store.tables import Role

__all__ = ["Access", "CurrentPrincipal", "Editor", "Owner", "Viewer", "principal_of", "workspace_access"]

_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}
WORKSPACE_HEADER = "X-Workspace"


@dataclass(frozen=True)
class Access:
    """A principal acting in one workspace with a role."""

    principal: Principal
    workspace_id: str
    role: str

    def allows(self, role: str) -> bool:
        """Whether this role is ``role`` or above it."""
        return _RANK[self.role] >= _RANK[role]


async def principal_of(request: Request) -> Principal:
    """The principal the gate authenticated (async: FastAPI would run a plain function in a thread).

    Raises:
        AuthenticationFailed: The route is public and nobody signed in.
    """
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise AuthenticationFailed("sign in first: send 'Authorization: Bearer <access token or API key>'")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(principal_of)]


async def workspace_access(
    request: Request,
    principal: CurrentPrincipal,
    workspace: Annotated[
        str | None, Header(alias=WORKSPACE_HEADER, description="The workspace (slug or id) the request acts in.")
    ] = None,
) -> Access:
    """The caller's role in the workspace the request names (or their only one).

    Raises:
        NotFound: The workspace does not exist or the caller is not a member (not told apart).
        Forbidden: The caller belongs to several workspaces (or none) and named none.
    """
    identity: IdentityService = request.app.state.server.identity
    memberships = await identity.workspaces_of(principal.user_id)
    if principal.workspace_id is not None:  # an API key acts in its own workspace only
        memberships = [(row, role) for row, role in memberships if row.id == principal.workspace_id]
        if not memberships:
            raise NotFound("this key's workspace no longer exists, or its user left it")
    if workspace is None:
        if len(memberships) != 1:
            raise Forbidden(
                f"name the workspace with the {WORKSPACE_HEADER} header (slug or id); you belong to {len(memberships)}",
                details={"header": WORKSPACE_HEADER},
            )
        return Access(principal, memberships[0][0].id, memberships[0][1])
    for row, role in memberships:
        if workspace in (row.id, row.slug):
            return Access(principal, row.id, role)
    raise NotFound(f"no workspace {workspace!r}", details={"workspace": workspace})


def _at_least(role: str) -> object:
    async def check(access: Annotated[Access, Depends(workspace_access)]) -> Access:
        if not access.allows(role):
            raise Forbidden(
                f"this needs the {role} role in the workspace; you are {access.role}",
                details={"needed": role, "role": access.role},
            )
        return access

    return Depends(check)


Viewer = Annotated[Access, _at_least(Role.VIEWER)]
Editor = Annotated[Access, _at_least(Role.EDITOR)]
Owner = Annotated[Access, _at_least(Role.OWNER)]
