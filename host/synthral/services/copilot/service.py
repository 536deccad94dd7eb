"""The chat copilot: one AG-UI run per request, in one of four modes, over a stored conversation.

:meth:`CopilotService.begin` checks everything that can be refused (the conversation is the
user's, the workflow is in reach, decisions are theirs to make with their role, the mode is
open to them) before the first event, so a refusal is an ordinary API error. It then runs
the turn in a task of its own and returns the run's event stream. One turn per conversation
runs at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import orjson
from sqlalchemy import select

from synthral.engine.repository import WorkflowNotFound
from synthral.errors import Conflict, InputInvalid, NotFound, SynthralError
from synthral.services.copilot import actions
from synthral.services.copilot.agents import precheck, run_agent_mode
from synthral.services.copilot.data import Data
from synthral.services.copilot.events import RunStream
from synthral.services.copilot.loop import run_loop
from synthral.services.copilot.proposals import acting_tools, code_tools
from synthral.services.copilot.record import Action, Conversation, Message
from synthral.services.copilot.requests import ChatInput, Decision
from synthral.services.copilot.routing import Route, route
from synthral.services.copilot.settings import CopilotSettings, SettingsStore
from synthral.services.copilot.tools import CopilotTool, read_tools
from synthral.services.copilot.turn import Actor, Services, Turn
from synthral.store.copilot_tables import COPILOT_CONVERSATION, ActionStatus
from synthral.store.db import Database

__all__ = ["CopilotService"]

log = logging.getLogger("synthral.copilot")
LOOP_MODES: Final = frozenset({"automation", "code"})


def tools_for(mode: str) -> list[CopilotTool]:
    """The tools the model has in a mode."""
    if mode == "code":
        return code_tools()
    return [*read_tools(), *acting_tools()]


class CopilotService:
    """Conversations and their turns over the host's services.

    Args:
        services: The host's and the server's services the tools and actions use.
        default: The server's copilot settings (``SYNTHRAL_COPILOT_*``) for workspaces that set none.
    """

    def __init__(self, services: Services, default: CopilotSettings | None = None) -> None:
        self.services = services
        self.settings = SettingsStore(services.database, default)
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def database(self) -> Database:
        """Where conversations are kept."""
        return self.services.database

    # -- conversations ----------------------------------------------------------------------

    async def conversation(self, actor: Actor, conversation_id: str) -> Data:
        """A conversation with its messages (AG-UI shaped) and actions, to show or resume it."""
        record = self.services.record
        conversation = await record.get(actor.owner, conversation_id)
        messages = await record.messages(conversation.id)
        return {
            **conversation.wire(),
            "messages": [_agui_message(conversation.id, message) for message in messages],
            "actions": [action.wire() for action in await record.actions(conversation.id)],
        }

    async def conversations(self, actor: Actor, *, limit: int, before: str | None) -> list[Data]:
        """The actor's conversations, latest activity first."""
        rows = await self.services.record.listing(actor.owner, limit=limit, before=before)
        return [row.wire() for row in rows]

    async def delete(self, actor: Actor, conversation_id: str) -> None:
        """Delete one of the actor's conversations."""
        if conversation_id in self._busy:
            raise Conflict("a turn of this conversation is running; delete it once it has finished")
        await self.services.record.delete(actor.owner, conversation_id)

    # -- a turn ---------------------------------------------------------------------------------

    async def begin(self, actor: Actor, chat: ChatInput) -> RunStream:
        """Check the request, start its turn, return the run's events.

        Raises:
            InputInvalid: Nothing to do, or a bad decision.
            NotFound: The conversation, workflow or action is not the actor's.
            Forbidden: The role or the key's scope does not allow what is asked.
            Conflict: A turn of the conversation is running, or an action was decided already.
            ConfigurationError: The workspace's copilot has no LLM.
        """
        if chat.prompt is None and not chat.decisions:
            raise InputInvalid(
                "nothing to answer: send a user message (messages[-1] with role 'user', or 'prompt') or resume "
                "entries deciding the pending actions",
                details={"field": "messages"},
            )
        settings = await self.settings.get(actor.workspace_id)
        if chat.routing:
            agent = settings.agent.model_copy(
                update={"routing": settings.agent.routing.model_copy(update=chat.routing)}
            )
            settings = settings.model_copy(update={"agent": agent})
        conversation = await self._conversation(actor, chat)
        if chat.workflow_id is not None:
            await self._open(actor, conversation, chat.workflow_id)
        prompt = chat.prompt
        if prompt is not None and await self._seen(conversation, chat.message_id):
            prompt = None  # the client sent its history again with no new message
        choice = self._mode(chat, conversation, prompt)
        if conversation.id in self._busy:
            raise Conflict(
                "a turn of this conversation is still running; wait for its RUN_FINISHED, then send again",
                details={"conversation_id": conversation.id},
            )
        stream = RunStream(conversation.id, chat.run_id)
        turn = Turn(self.services, actor, conversation, stream, choice.mode, settings)
        turn.history = await self.services.record.messages(conversation.id)
        decisions = await self._check_decisions(turn, chat.decisions)
        if prompt is not None and choice.mode in ("agent", "agent_flow"):
            precheck(turn)
        self._busy.add(conversation.id)
        task = asyncio.create_task(self._run(turn, prompt, chat.message_id, choice, decisions))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return stream

    async def decide(
        self, actor: Actor, conversation_id: str, action_id: str, decision: str, changes: Data | None
    ) -> RunStream:
        """Decide one pending action (the REST form of an AG-UI resume entry)."""
        chat = ChatInput(
            thread_id=conversation_id, run_id=f"run_{action_id}_{decision}"[:100], prompt=None, message_id=None,
            mode=None, workflow_id=None, decisions=[Decision(action_id, decision, changes)],
        )  # fmt: skip
        return await self.begin(actor, chat)

    async def close(self) -> None:
        """Stop running turns (their record stays as far as they got)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    # -- checks before a turn -----------------------------------------------------------------

    async def _conversation(self, actor: Actor, chat: ChatInput) -> Conversation:
        record = self.services.record
        if chat.thread_id is not None:
            try:
                return await record.get(actor.owner, chat.thread_id)
            except NotFound:
                if chat.decisions:
                    raise
                if await _exists(self.database, chat.thread_id):
                    raise  # someone else's: "not found", never shown
        title = chat.prompt or "New conversation"
        mode = chat.mode or "automation"
        workflow_id = actor.scope_workflow_id
        if chat.thread_id is not None:
            return await record.create(actor.owner, title=title, mode=mode, workflow_id=workflow_id,
                                       conversation_id=chat.thread_id)  # fmt: skip
        return await record.create(actor.owner, title=title, mode=mode, workflow_id=workflow_id)

    async def _open(self, actor: Actor, conversation: Conversation, workflow_id: str) -> None:
        try:
            saved = await self.services.workflows.get(workflow_id, workspace_id=actor.workspace_id)
        except WorkflowNotFound:
            raise NotFound(
                f"no workflow {workflow_id!r} in this workspace to open beside the chat",
                details={"workflow_id": workflow_id},
            ) from None
        actor.check_scope(saved.workflow_id, "opening that workflow")
        if conversation.workflow_id != saved.workflow_id:
            conversation.workflow_id = saved.workflow_id
            conversation.state["workflow_id"] = saved.workflow_id
            await self.services.record.update(conversation.id, workflow_id=saved.workflow_id, state=conversation.state)

    async def _seen(self, conversation: Conversation, message_id: str | None) -> bool:
        if message_id is None:
            return False
        for message in reversed(await self.services.record.messages(conversation.id)):
            if message.role == "user":
                return bool(message.data and message.data.get("client_id") == message_id)
        return False

    @staticmethod
    def _mode(chat: ChatInput, conversation: Conversation, prompt: str | None) -> Route:
        if chat.mode is not None:
            return Route(chat.mode, "chosen by the user", "user")
        if prompt is None:
            return Route(conversation.mode, "the conversation's mode", "conversation")
        return route(prompt, workflow_open=conversation.workflow_id is not None)

    async def _check_decisions(self, turn: Turn, decisions: list[Decision]) -> list[tuple[Action, Decision]]:
        checked = []
        for decision in decisions:
            action = await self.services.record.action(turn.conversation.id, decision.action_id)
            if action.status != ActionStatus.PENDING:
                raise Conflict(
                    f"action {action.id} was decided already ({action.status})", details={"action_id": action.id}
                )
            if decision.decision not in actions.DECISIONS:
                raise InputInvalid(
                    f"decision {decision.decision!r} is not one of {', '.join(actions.DECISIONS)}",
                    details={"field": "decision"},
                )
            if decision.decision in ("confirm", "apply"):
                if decision.decision == "apply":
                    actions.check_apply(action, decision.changes)
                verb = "confirming" if decision.decision == "confirm" else "applying"
                turn.actor.require(action.needs_role, f"{verb} '{action.summary}'")
                workflow_id = action.payload.get("workflow_id")
                turn.actor.check_scope(workflow_id if isinstance(workflow_id, str) else None, "this action")
                if decision.decision == "confirm":
                    actions._edited(action, decision.changes)  # noqa: SLF001 -- refuse bad changes before streaming
            checked.append((action, decision))
        return checked

    # -- running ------------------------------------------------------------------------------

    async def _run(
        self,
        turn: Turn,
        prompt: str | None,
        message_id: str | None,
        choice: Route,
        decisions: list[tuple[Action, Decision]],
    ) -> None:
        stream = turn.stream
        try:
            stream.started(mode=turn.mode)
            turn.state["mode"] = turn.mode
            if prompt is not None:
                turn.state["routing"] = choice.wire()
            stream.snapshot(turn.state)
            await self.services.record.update(turn.conversation.id, mode=turn.mode, state=turn.state)
            for action, decision in decisions:
                await actions.decide(turn, action, decision.decision, decision.changes)
            if prompt is not None:
                client = {"client_id": message_id} if message_id else None
                await turn.write(Message(seq=0, role="user", content=prompt, data=client))
                await self._answer(turn, prompt)
            elif turn.continue_model and turn.mode in LOOP_MODES | {"agent_flow"}:
                explain = turn.mode if turn.mode in LOOP_MODES else "automation"
                turn.mode = explain
                await run_loop(turn, tools_for(explain))
            stream.finished(
                interrupts=await turn.interrupts(),
                usage=turn.token_usage(),
                result={
                    "conversation_id": turn.conversation.id,
                    "mode": turn.mode,
                    "cost_usd": round(turn.cost_usd, 8),
                },
            )
        except SynthralError as exc:
            stream.failed(exc.message, exc.code, turn.token_usage())
        except Exception:
            log.exception("copilot turn %s of conversation %s failed", turn.run_id, turn.conversation.id)
            stream.failed("the copilot failed unexpectedly; the server's log has the details", "internal_error", [])
        finally:
            with contextlib.suppress(Exception):
                await self.services.llm.records.flush()
            self._busy.discard(turn.conversation.id)
            stream.close()

    async def _answer(self, turn: Turn, prompt: str) -> None:
        if turn.mode in LOOP_MODES:
            await run_loop(turn, tools_for(turn.mode))
        else:
            await run_agent_mode(turn, prompt)


async def _exists(database: Database, conversation_id: str) -> bool:
    async with database.engine.connect() as connection:
        found = await connection.execute(
            select(COPILOT_CONVERSATION.c.id).where(COPILOT_CONVERSATION.c.id == conversation_id)
        )
        return found.first() is not None


def _agui_message(conversation_id: str, message: Message) -> Data:
    """A stored message in AG-UI's shape (a note becomes a developer message)."""
    ident = f"{conversation_id[:8]}-{message.seq}"
    if message.role == "assistant":
        out: Data = {"id": ident, "role": "assistant", "content": message.content}
        if message.tool_calls:
            out["toolCalls"] = [
                {"id": call["id"], "type": "function",
                 "function": {"name": call["name"], "arguments": _json(call.get("arguments") or {})}}
                for call in message.tool_calls
            ]  # fmt: skip
        return out
    if message.role == "tool":
        return {"id": ident, "role": "tool", "content": message.content, "toolCallId": message.tool_call_id or ""}
    if message.role == "note":
        return {"id": ident, "role": "developer", "content": message.content, "metadata": {"data": message.data}}
    return {"id": ident, "role": "user", "content": message.content}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
