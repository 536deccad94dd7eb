"""Who belongs to a workspace, and whether the signed-in user has two-factor sign-in on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from synthral.store.db import Database
from synthral.store.tables import MEMBERSHIP, USER

__all__ = ["Member", "MemberDirectory"]


@dataclass(frozen=True)
class Member:
    """A member of a workspace as other members may see them."""

    user_id: str
    email: str
    display_name: str
    role: str
    totp_enabled: bool


class MemberDirectory:
    """Read-only listings over the identity tables (changes go through IdentityService)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def members(self, workspace_id: str) -> list[Member]:
        """The workspace's members, owners first, then by email."""
        query = (
            select(USER.c.id, USER.c.email, USER.c.display_name, USER.c.totp_enabled, MEMBERSHIP.c.role)
            .join(MEMBERSHIP, MEMBERSHIP.c.user_id == USER.c.id)
            .where(MEMBERSHIP.c.workspace_id == workspace_id)
            .order_by(USER.c.email)
        )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        order = {"owner": 0, "editor": 1, "viewer": 2}
        members = [Member(r.id, r.email, r.display_name or "", r.role, bool(r.totp_enabled)) for r in rows]
        return sorted(members, key=lambda m: (order.get(m.role, 3), m.email))

    async def totp_enabled(self, user_id: str) -> bool:
        """Whether the user signs in with a second factor."""
        async with self.database.engine.connect() as connection:
            value = (await connection.execute(select(USER.c.totp_enabled).where(USER.c.id == user_id))).scalar()
        return bool(value)
