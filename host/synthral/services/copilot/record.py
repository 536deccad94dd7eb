"""The record of conversations: who owns them, their messages in order, the actions they proposed.

Every read and write names the owner (workspace and user): a conversation of someone else
is "not found", never shown. The messages are what the model is given again on the next
turn, so a restarted server resumes a conversation from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from synthral.errors import Conflict, NotFound
from synthral.services.copilot.data import Data
from synthral.store.copilot_tables import COPILOT_ACTION, COPILOT_CONVERSATION, COPILOT_MESSAGE, ActionStatus
from synthral.store.db import Database
from synthral.store.tables import utcnow

__all__ = ["Action", "Conversation", "Message", "Owner", "Record"]


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()  # aware UTC from the column (UTCDateTime)


@dataclass(frozen=True)
class Owner:
    """Whose conversations: a user in a workspace, maybe bound to one workflow (a scoped API key)."""

    workspace_id: str
    user_id: str
    scope_workflow_id: str | None = None


@dataclass
class Conversation:
    """A conversation's row."""

    id: str
    workspace_id: str
    user_id: str
    workflow_id: str | None
    scope_workflow_id: str | None
    title: str
    mode: str
    state: Data
    created_at: str | None = None
    updated_at: str | None = None

    def wire(self) -> Data:
        """The conversation for the API."""
        return {
            "id": self.id,
            "title": self.title,
            "mode": self.mode,
            "workflow_id": self.workflow_id,
            "scope_workflow_id": self.scope_workflow_id,
            "state": self.state,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class Message:
    """One stored message."""

    seq: int
    role: str
    content: str = ""
    tool_calls: list[Data] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    data: Data | None = None
    mode: str | None = None
    run_id: str = ""
    created_at: str | None = None


@dataclass
class Action:
    """A proposed action and what became of it."""

    id: str
    conversation_id: str
    tool_call_id: str | None
    kind: str
    summary: str
    payload: Data
    needs_role: str
    status: str
    result: Data | None = None
    created_at: str | None = None
    decided_at: str | None = None
    decided_by: str | None = None

    def wire(self) -> Data:
        """The action for the API and the chat's state (the payload included: it is what is confirmed)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "summary": self.summary,
            "payload": self.payload,
            "needs_role": self.needs_role,
            "status": self.status,
            "result": self.result,
            "tool_call_id": self.tool_call_id,
            "created_at": self.created_at,
            "decided_at": self.decided_at,
        }


class _Row:
    """A row just written, read back through the same attributes a database row has."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row.id,
        workspace_id=row.workspace_id,
        user_id=row.user_id,
        workflow_id=row.workflow_id,
        scope_workflow_id=row.scope_workflow_id,
        title=row.title,
        mode=row.mode,
        state=dict(row.state or {}),
        created_at=_iso(row.created_at),
        updated_at=_iso(row.updated_at),
    )


def _message(row: Any) -> Message:
    return Message(
        seq=row.seq,
        role=row.role,
        content=row.content or "",
        tool_calls=list(row.tool_calls or []),
        tool_call_id=row.tool_call_id,
        name=row.name,
        data=row.data,
        mode=row.mode,
        run_id=row.run_id,
        created_at=_iso(row.created_at),
    )


def _action(row: Any) -> Action:
    return Action(
        id=row.id,
        conversation_id=row.conversation_id,
        tool_call_id=row.tool_call_id,
        kind=row.kind,
        summary=row.summary,
        payload=dict(row.payload or {}),
        needs_role=row.needs_role,
        status=row.status,
        result=row.result,
        created_at=_iso(row.created_at),
        decided_at=_iso(row.decided_at),
        decided_by=row.decided_by,
    )


class Record:
    """Conversations, messages and actions in the database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _mine(self, owner: Owner) -> Any:
        table = COPILOT_CONVERSATION
        query = select(table).where(table.c.workspace_id == owner.workspace_id, table.c.user_id == owner.user_id)
        if owner.scope_workflow_id is not None:
            query = query.where(table.c.scope_workflow_id == owner.scope_workflow_id)
        return query

    async def create(
        self, owner: Owner, *, title: str, mode: str, workflow_id: str | None, conversation_id: str | None = None
    ) -> Conversation:
        """A new conversation of ``owner`` (with the id the client chose, when it did)."""
        now = utcnow()
        row: dict[str, Any] = {
            "id": conversation_id or str(uuid.uuid4()),
            "workspace_id": owner.workspace_id,
            "user_id": owner.user_id,
            "workflow_id": workflow_id,
            "scope_workflow_id": owner.scope_workflow_id,
            "title": title.strip().splitlines()[0][:200] if title.strip() else "New conversation",
            "mode": mode,
            "state": {},
            "created_at": now,
            "updated_at": now,
        }
        async with self.database.transaction() as connection:
            await connection.execute(insert(COPILOT_CONVERSATION), row)
        return _conversation(_Row(row))

    async def get(self, owner: Owner, conversation_id: str) -> Conversation:
        """One of ``owner``'s conversations.

        Raises:
            NotFound: No such conversation of theirs.
        """
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(self._mine(owner).where(COPILOT_CONVERSATION.c.id == conversation_id))
            ).first()
        if row is None:
            raise NotFound(
                f"no conversation {conversation_id!r} of yours in this workspace; list yours with "
                "GET /api/v1/chat/conversations, or leave threadId new to start one",
                details={"conversation_id": conversation_id},
            )
        return _conversation(row)

    async def listing(self, owner: Owner, *, limit: int, before: str | None) -> list[Conversation]:
        """``owner``'s conversations, latest activity first; ``before`` (an id) pages on."""
        table = COPILOT_CONVERSATION
        query = self._mine(owner).order_by(table.c.updated_at.desc(), table.c.id.desc()).limit(limit)
        async with self.database.engine.connect() as connection:
            if before is not None:
                anchor = (
                    await connection.execute(select(table.c.updated_at, table.c.id).where(table.c.id == before))
                ).first()
                if anchor is not None:
                    query = query.where(
                        (table.c.updated_at < anchor[0])
                        | ((table.c.updated_at == anchor[0]) & (table.c.id < anchor[1]))
                    )
            rows = (await connection.execute(query)).all()
        return [_conversation(row) for row in rows]

    async def delete(self, owner: Owner, conversation_id: str) -> None:
        """Delete a conversation with its messages and actions."""
        await self.get(owner, conversation_id)
        async with self.database.transaction() as connection:
            await connection.execute(delete(COPILOT_CONVERSATION).where(COPILOT_CONVERSATION.c.id == conversation_id))

    async def update(self, conversation_id: str, **values: Any) -> None:
        """Change the conversation's open workflow, mode or state; touch its time."""
        values["updated_at"] = utcnow()
        async with self.database.transaction() as connection:
            await connection.execute(
                update(COPILOT_CONVERSATION).where(COPILOT_CONVERSATION.c.id == conversation_id).values(**values)
            )

    # -- messages --------------------------------------------------------------------------

    async def messages(self, conversation_id: str) -> list[Message]:
        """Every message, in order."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                select(COPILOT_MESSAGE)
                .where(COPILOT_MESSAGE.c.conversation_id == conversation_id)
                .order_by(COPILOT_MESSAGE.c.seq)
            )
            return [_message(row) for row in rows]

    async def append(self, conversation_id: str, run_id: str, messages: list[Message]) -> None:
        """Append messages after the last one, in one transaction.

        Raises:
            Conflict: Another turn of the conversation wrote meanwhile.
        """
        if not messages:
            return
        now = utcnow()

        def write(connection: Connection) -> None:
            last = connection.execute(
                select(func.max(COPILOT_MESSAGE.c.seq)).where(COPILOT_MESSAGE.c.conversation_id == conversation_id)
            ).scalar()
            start = (last if last is not None else -1) + 1
            rows = []
            for offset, message in enumerate(messages):
                message.seq = start + offset
                rows.append(
                    {
                        "conversation_id": conversation_id,
                        "seq": message.seq,
                        "run_id": run_id,
                        "role": message.role,
                        "content": message.content,
                        "tool_calls": message.tool_calls or None,
                        "tool_call_id": message.tool_call_id,
                        "name": message.name,
                        "data": message.data,
                        "mode": message.mode,
                        "created_at": now,
                    }
                )
            connection.execute(insert(COPILOT_MESSAGE), rows)
            connection.execute(
                update(COPILOT_CONVERSATION).where(COPILOT_CONVERSATION.c.id == conversation_id).values(updated_at=now)
            )

        try:
            await self.database.write(write)
        except Exception as exc:
            if "uq_copilot_message_seq" in str(exc) or "UNIQUE" in str(exc).upper():
                raise Conflict(
                    "another turn of this conversation wrote at the same time; wait for it to finish, then send again",
                    details={"conversation_id": conversation_id},
                ) from None
            raise

    # -- actions ----------------------------------------------------------------------------

    async def propose(
        self,
        conversation_id: str,
        *,
        kind: str,
        summary: str,
        payload: Data,
        needs_role: str,
        tool_call_id: str | None,
    ) -> Action:
        """Record a pending action; only the user can decide it."""
        row: dict[str, Any] = {
            "id": "act_" + uuid.uuid4().hex[:20],
            "conversation_id": conversation_id,
            "tool_call_id": tool_call_id,
            "kind": kind,
            "summary": summary,
            "payload": payload,
            "needs_role": needs_role,
            "status": ActionStatus.PENDING,
            "result": None,
            "created_at": utcnow(),
            "decided_at": None,
            "decided_by": None,
        }
        async with self.database.transaction() as connection:
            await connection.execute(insert(COPILOT_ACTION), row)
        return _action(_Row(row))

    async def actions(self, conversation_id: str, *, status: str | None = None) -> list[Action]:
        """The conversation's actions, oldest first (only ``status`` ones when given)."""
        query = select(COPILOT_ACTION).where(COPILOT_ACTION.c.conversation_id == conversation_id)
        if status is not None:
            query = query.where(COPILOT_ACTION.c.status == status)
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(query.order_by(COPILOT_ACTION.c.created_at, COPILOT_ACTION.c.id))
            return [_action(row) for row in rows]

    async def action(self, conversation_id: str, action_id: str) -> Action:
        """One action of the conversation.

        Raises:
            NotFound: The conversation has no such action.
        """
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(COPILOT_ACTION).where(
                        COPILOT_ACTION.c.id == action_id, COPILOT_ACTION.c.conversation_id == conversation_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(
                f"this conversation has no action {action_id!r}; its actions are in GET /api/v1/chat/conversations/"
                f"{conversation_id}",
                details={"action_id": action_id},
            )
        return _action(row)

    async def claim(self, action: Action, user_id: str) -> None:
        """Take a pending action for deciding (exactly one request wins).

        Raises:
            Conflict: It was decided already (or is being decided).
        """
        now = utcnow()
        async with self.database.transaction() as connection:
            taken = await connection.execute(
                update(COPILOT_ACTION)
                .where(COPILOT_ACTION.c.id == action.id, COPILOT_ACTION.c.status == ActionStatus.PENDING)
                .values(status="deciding", decided_at=now, decided_by=user_id)
            )
        if taken.rowcount != 1:
            now_status = (await self.action(action.conversation_id, action.id)).status
            raise Conflict(
                f"action {action.id} was decided already ({now_status})",
                details={"action_id": action.id},
            )

    async def settle(self, action_id: str, status: str, result: Data | None) -> None:
        """Record how a decided action ended: rejected, done or failed."""
        async with self.database.transaction() as connection:
            await connection.execute(
                update(COPILOT_ACTION).where(COPILOT_ACTION.c.id == action_id).values(status=status, result=result)
            )

    async def release(self, action_id: str) -> None:
        """Put an action back to pending (its decision was refused before anything ran)."""
        async with self.database.transaction() as connection:
            await connection.execute(
                update(COPILOT_ACTION)
                .where(COPILOT_ACTION.c.id == action_id)
                .values(status=ActionStatus.PENDING, decided_at=None, decided_by=None)
            )
