"""The copilot's acting tools: each only proposes; the user confirms or rejects in the chat.

A proposal is a ``copilot_action`` row. The model is told it waits for the user; there is
no tool that confirms, and confirming (:mod:`synthral.services.copilot.actions`) is a
separate request of the signed-in user, checked against their role again. A user whose
role cannot do the thing gets no proposal at all: the tool answers with the refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from synthral.engine.repository import WorkflowNotFound
from synthral.engine.schedules import next_fire
from synthral.errors import InputInvalid, SynthralError
from synthral.services.code import DEFAULT_RUNTIME
from synthral.services.copilot.data import Data
from synthral.services.copilot.drafting import apply_patch, changes, layout, with_trigger
from synthral.services.copilot.record import Action
from synthral.services.copilot.tools import CopilotTool, preview, resolve_workflow
from synthral.services.copilot.turn import Turn
from synthral.store.copilot_tables import ActionStatus
from synthral.store.tables import Role

__all__ = ["acting_tools", "code_tools", "propose"]

MAX_CODE: Final = 200_000


def _awaiting(action: Action, **more: Any) -> Data:
    return {
        "status": "awaiting_confirmation",
        "action_id": action.id,
        "summary": action.summary,
        "note": "Nothing has happened yet: the user confirms or rejects this in the chat. Tell them what it does.",
        **more,
    }


async def propose(
    turn: Turn, call_id: str, *, kind: str, summary: str, payload: Data, needs_role: str, what: str
) -> Action:
    """Record a pending action for the user to decide, refused outright if their role could not confirm it."""
    turn.actor.require(needs_role, what)  # a viewer's copilot proposes nothing it could not confirm
    action = await turn.services.record.propose(
        turn.conversation.id, kind=kind, summary=summary, payload=payload, needs_role=needs_role, tool_call_id=call_id
    )
    turn.proposed.append(action)
    await turn.refresh_pending()
    return action


async def _supersede(turn: Turn, kinds: set[str]) -> None:
    """Earlier pending proposals of these kinds give way to a new one (the chat shows the newest)."""
    for action in await turn.services.record.actions(turn.conversation.id, status=ActionStatus.PENDING):
        if action.kind in kinds:
            await turn.services.record.settle(action.id, ActionStatus.REJECTED, {"superseded": True})


def _definition(workflow: Any) -> Data:
    return layout(workflow.model_dump(mode="json", exclude_unset=True))


async def _offer(
    turn: Turn, call_id: str, definition: object, *, base_id: str | None, edit: Data | None = None
) -> Data:
    """Check a definition; show it; propose saving it when it is valid.

    ``edit`` (a patch and what it was made against) goes with the proposal so the builder
    can apply the patch to the graph on its canvas rather than replace it.
    """
    more: Data = {"edit": edit} if edit is not None else {}
    check = turn.services.catalog.check(definition)
    if not check.valid or check.workflow is None:
        shown = definition if isinstance(definition, dict) else None
        await turn.set_state("proposal", {"workflow": shown, "valid": False, "problems": check.problems, **more})
        return {
            "valid": False,
            "problems": check.problems,
            "note": "not proposed: fix every problem (explain_validation gives each field's schema), then try again",
        }
    workflow = check.workflow
    target = base_id
    before: Data | None = None
    try:
        existing = await turn.services.workflows.get(workflow.name, workspace_id=turn.actor.workspace_id)
    except WorkflowNotFound:
        existing = None
    if existing is not None:
        if base_id is not None and existing.workflow_id != base_id:
            raise InputInvalid(
                f"another workflow is named {workflow.name!r}; a workflow keeps its name, so keep the open one's name"
            )
        target = existing.workflow_id
        before = _definition(existing.workflow)
    elif base_id is not None:
        current = await turn.services.workflows.get(base_id, workspace_id=turn.actor.workspace_id)
        raise InputInvalid(f"the open workflow is named {current.name!r}; a workflow keeps its name, so keep it")
    turn.actor.check_scope(target, "saving a new workflow" if target is None else "saving this workflow")
    definition_out = _definition(workflow)
    diff = changes(before, definition_out)
    name = workflow.name
    summary = (
        f"Save workflow {name!r} as a new workflow ({len(workflow.nodes)} nodes)"
        if target is None
        else f"Save a new version of {name!r}: {len(diff['added'])} added, {len(diff['removed'])} removed, "
        f"{len(diff['changed'])} changed"
    )
    if not turn.actor.allows(Role.EDITOR):  # shown to look at, never offered for saving
        await turn.set_state(
            "proposal",
            {"workflow": definition_out, "valid": True, "problems": [], "changes": diff, "read_only": True, **more},
        )
        return {
            "valid": True,
            "proposed": False,
            "refused": f"saving workflows needs the editor role; this user is {turn.actor.role}, so it is only shown",
        }
    await _supersede(turn, {"save_workflow"})
    action = await propose(
        turn,
        call_id,
        kind="save_workflow",
        summary=summary,
        payload={"workflow": definition_out, "workflow_id": target},
        needs_role=Role.EDITOR,
        what="saving a workflow",
    )
    await turn.set_state(
        "proposal",
        {"workflow": definition_out, "valid": True, "problems": [], "changes": diff, "workflow_id": target,
         "action_id": action.id, **more},
    )  # fmt: skip
    return _awaiting(action, valid=True, changes=diff)


# -- the tools ---------------------------------------------------------------------------------


async def draft_workflow(turn: Turn, args: Data, call_id: str) -> Data:
    definition = args.get("workflow")
    if not isinstance(definition, dict):
        raise InputInvalid("'workflow' must be a workflow definition: {name, nodes, edges, triggers}")
    return await _offer(turn, call_id, definition, base_id=None)


async def propose_edit(turn: Turn, args: Data, call_id: str) -> Data:
    patch = args.get("patch")
    if not isinstance(patch, list) or not patch:
        raise InputInvalid("'patch' must be a non-empty list of RFC 6902 operations, e.g. "
                           '[{"op": "replace", "path": "/nodes/0/config/timeout", "value": 20}]')  # fmt: skip
    proposal = turn.state.get("proposal")
    ref = args.get("workflow")
    if not ref and isinstance(proposal, dict) and isinstance(proposal.get("workflow"), dict) and proposal.get("valid"):
        base: Data = proposal["workflow"]
        base_id = proposal.get("workflow_id") if isinstance(proposal.get("workflow_id"), str) else None
        edit: Data = {"patch": patch, "of": "draft"}
    else:
        saved = await resolve_workflow(turn, ref if isinstance(ref, str) else None, what="editing a workflow")
        base, base_id = saved.workflow.model_dump(mode="json", exclude_unset=True), saved.workflow_id
        edit = {"patch": patch, "of": "saved", "workflow_id": saved.workflow_id, "version": saved.version}
    try:
        edited = apply_patch(base, patch)
    except SynthralError as exc:
        return {
            "valid": False,
            "problems": [{"code": "patch_invalid", "message": exc.message}],
            "note": "the patch did not apply; read the definition (get_workflow) and point at existing paths",
        }
    return await _offer(turn, call_id, edited, base_id=base_id, edit=edit)


async def run_workflow(turn: Turn, args: Data, call_id: str) -> Data:
    saved = await resolve_workflow(turn, args.get("workflow") or None, what="running a workflow")
    data = args.get("input") or {}
    if not isinstance(data, dict):
        raise InputInvalid("'input' must be an object: the run's trigger data")
    action = await propose(
        turn,
        call_id,
        kind="run_workflow",
        summary=f"Run {saved.name!r} (v{saved.version}) with input {preview(data, 200)}",
        payload={"workflow_id": saved.workflow_id, "name": saved.name, "version": saved.version, "input": data},
        needs_role=Role.EDITOR,
        what="running a workflow",
    )
    return _awaiting(action)


async def create_schedule(turn: Turn, args: Data, call_id: str) -> Data:
    saved = await resolve_workflow(turn, args.get("workflow") or None, what="scheduling a workflow")
    cron, zone = args.get("cron"), args.get("timezone") or "UTC"
    if not isinstance(cron, str) or not isinstance(zone, str):
        raise InputInvalid("'cron' (five fields, e.g. '0 8 * * *') and 'timezone' (e.g. 'Europe/Paris') are strings")
    trigger: Data = {"type": "cron", "cron": cron, "timezone": zone}
    if isinstance(args.get("input"), dict):
        trigger["input"] = args["input"]
    definition = with_trigger(saved.workflow.model_dump(mode="json", exclude_unset=True), trigger)
    check = turn.services.catalog.check(definition)
    if not check.valid:
        return {"valid": False, "problems": check.problems}
    upcoming: list[str] = []
    after = datetime.now(UTC)
    while len(upcoming) < 3:
        slot = next_fire(cron, zone, after)
        if slot is None:
            break
        upcoming.append(slot.isoformat())
        after = slot
    action = await propose(
        turn,
        call_id,
        kind="create_schedule",
        summary=f"Schedule {saved.name!r} on '{cron}' ({zone}); next: {', '.join(upcoming[:2]) or 'never'}",
        payload={
            "workflow_id": saved.workflow_id,
            "name": saved.name,
            "workflow": definition,
            "trigger": trigger,
            "upcoming": upcoming,
        },
        needs_role=Role.EDITOR,
        what="creating a schedule",
    )
    return _awaiting(action, upcoming=upcoming)


async def create_webhook(turn: Turn, args: Data, call_id: str) -> Data:
    saved = await resolve_workflow(turn, args.get("workflow") or None, what="adding a webhook")
    trigger: Data = {"type": "webhook"}
    if isinstance(args.get("connector"), str) and args["connector"]:
        trigger["connector"] = args["connector"]
    definition = with_trigger(saved.workflow.model_dump(mode="json", exclude_unset=True), trigger)
    check = turn.services.catalog.check(definition)
    if not check.valid:
        return {"valid": False, "problems": check.problems}
    action = await propose(
        turn,
        call_id,
        kind="create_webhook",
        summary=f"Add a webhook trigger to {saved.name!r} and make its signing secret (shown once)",
        payload={"workflow_id": saved.workflow_id, "name": saved.name, "workflow": definition, "trigger": trigger},
        needs_role=Role.EDITOR,
        what="adding a webhook",
    )
    return _awaiting(action)


async def run_code(turn: Turn, args: Data, call_id: str) -> Data:
    language, code = args.get("language") or "python", args.get("code")
    if language not in ("python", "javascript"):
        raise InputInvalid(f"language {language!r} is not one code mode runs; use 'python' or 'javascript'")
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
        raise InputInvalid(f"'code' must be the program's text (1 to {MAX_CODE} characters)")
    inputs = args.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InputInvalid("'inputs' must be an object: what the code reads as 'inputs'")
    runtime = turn.settings.code_runtime or DEFAULT_RUNTIME
    lines = code.count("\n") + 1
    await _supersede(turn, {"run_code"})
    action = await propose(
        turn,
        call_id,
        kind="run_code",
        summary=f"Run {lines} line{'s' if lines != 1 else ''} of {language.title()} in the {runtime} sandbox",
        payload={"language": language, "code": code, "inputs": inputs, "runtime": runtime},
        needs_role=Role.EDITOR,
        what="running code",
    )
    await turn.set_state("code", {"language": language, "code": code, "inputs": inputs, "action_id": action.id})
    return _awaiting(action, runtime=runtime)


def _schema(properties: Data, required: list[str] | None = None) -> Data:
    return {"type": "object", "properties": properties, "required": required or []}


_REF: Final = {"type": "string", "description": "A workflow's name or id; the open workflow when empty."}


def acting_tools() -> list[CopilotTool]:
    """The proposing tools of the automation mode."""
    return [
        CopilotTool(
            "draft_workflow",
            "Propose a whole workflow ({name, description, nodes: [{id, type, config, "
            "input}], edges: [{source, target, handle}], triggers: [{type: manual}|{type: cron, cron, "
            "timezone}|{type: webhook}]}). It is validated as saving validates; when valid the user sees it "
            "and accepts or rejects it. Same name as an existing workflow: a new version of it.",
            _schema({"workflow": {"type": "object"}}, ["workflow"]),
            draft_workflow,
        ),
        CopilotTool(
            "propose_edit",
            "Propose an edit of the open workflow (or of the draft being discussed) as "
            "an RFC 6902 JSON Patch; validated, shown as a diff, accepted or rejected by the user.",
            _schema({"patch": {"type": "array", "items": {"type": "object"}}, "workflow": _REF}, ["patch"]),
            propose_edit,
        ),
        CopilotTool(
            "run_workflow",
            "Propose running a saved workflow with test input; runs once the user confirms.",
            _schema({"input": {"type": "object"}, "workflow": _REF}),
            run_workflow,
        ),
        CopilotTool(
            "create_schedule",
            "Propose a cron schedule for a saved workflow (APScheduler cron, five "
            "fields, e.g. '0 8 * * *' for 8:00 every day).",
            _schema(
                {
                    "cron": {"type": "string"},
                    "timezone": {"type": "string"},
                    "input": {"type": "object"},
                    "workflow": _REF,
                },
                ["cron"],
            ),
            create_schedule,
        ),
        CopilotTool(
            "create_webhook",
            "Propose a webhook trigger for a saved workflow (its URL and a signing secret, shown once).",
            _schema({"workflow": _REF, "connector": {"type": "string"}}),
            create_webhook,
        ),
    ]


def code_tools() -> list[CopilotTool]:
    """The code mode's one tool."""
    return [
        CopilotTool(
            "run_code",
            "Propose running code in the sandbox. Python reads `inputs` (a dict) and assigns "
            "its answer to `result`; JavaScript is an async function body that gets `inputs` and returns "
            "its answer. The user can edit it, then runs it; you then see the outcome.",
            _schema(
                {
                    "language": {"enum": ["python", "javascript"]},
                    "code": {"type": "string"},
                    "inputs": {"type": "object"},
                },
                ["code"],
            ),
            run_code,
        ),
    ]
