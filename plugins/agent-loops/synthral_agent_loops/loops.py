"""Three small agent loops written against the SDK only; the host runs the model and the tools.

* :class:`TaskListLoop` — AgentGPT/BabyAGI/AutoGPT-style: plan a task list for the goal, work
  each task (calling tools), and with ``recursive`` planning add the tasks each result calls
  for, then write the answer.
* :class:`SelfFixLoop` — Archon-style: produce a solution, check it (with a granted check
  tool, or by the model's review), repair it from the problems found, until it passes.
* :class:`BeliefGoalLoop` — Agent0-style: keep beliefs, decide one action toward the goal,
  observe its result, revise the beliefs, until the goal is met.

None is a copy of those projects (AgentGPT, BabyAGI, AutoGPT, Archon and Agent0 are
applications, not libraries one can install into a plugin); each follows its published loop.
"""

from __future__ import annotations

import json
from typing import Any

from synthral_sdk import (
    AgentFramework,
    AgentRequest,
    AgentResult,
    AgentStep,
    ChatMessage,
    CompletionRequest,
    Context,
    NoConfig,
    ResponseFormat,
    ToolCall,
    Usage,
)
from synthral_sdk.errors import NonRetryableError

__all__ = ["BeliefGoalLoop", "SelfFixLoop", "TaskListLoop"]

MAX_TOOL_TURNS = 8


class _Loop:
    """What the three loops share: asking the model, running its tool calls, recording steps."""

    def __init__(self, request: AgentRequest, context: Context) -> None:
        self.request = request
        self.context = context
        self.host = context.host
        self.usage = Usage()
        self.steps: list[AgentStep] = []

    def system(self, role: str) -> ChatMessage:
        text = role if not self.request.instructions else f"{self.request.instructions}\n\n{role}"
        return ChatMessage(role="system", content=text)

    async def note(self, kind: str, content: str, **data: Any) -> None:
        step = AgentStep.model_validate({"kind": kind, "content": content, "data": data})
        self.steps.append(step)
        await self.host.record(step)

    async def ask(
        self, messages: list[ChatMessage], *, tools: bool = False, schema: dict[str, Any] | None = None
    ) -> Any:
        request = CompletionRequest(
            model=self.request.model or "",
            messages=messages,
            tools=self.request.tools if tools else [],
            response_format=ResponseFormat(json_schema=schema) if schema is not None else None,
        )
        result = await self.host.complete(request)
        self.usage = self.usage + result.usage
        return result

    async def ask_json(self, messages: list[ChatMessage], schema: dict[str, Any]) -> dict[str, Any]:
        result = await self.ask(messages, schema=schema)
        data = result.parsed
        if data is None:
            try:
                data = json.loads(result.message.content)
            except ValueError:
                raise NonRetryableError(
                    f"the model did not answer with JSON where the loop needs it: {result.message.content[:200]!r}; "
                    "use a model that supports structured output",
                    error_type="AgentOutputInvalid",
                ) from None
        if not isinstance(data, dict):
            raise NonRetryableError("the model's JSON is not an object", error_type="AgentOutputInvalid")
        return data

    async def work(self, messages: list[ChatMessage]) -> str:
        """Let the model call tools until it answers in text (at most MAX_TOOL_TURNS turns)."""
        for _ in range(MAX_TOOL_TURNS):
            result = await self.ask(messages, tools=bool(self.request.tools))
            messages.append(result.message)
            if not result.message.tool_calls:
                return result.message.content
            for call in result.message.tool_calls:
                answer = await self.host.call_tool(call)
                self.steps.append(
                    AgentStep(kind="tool_result", content=answer.as_text()[:500], data={"tool": call.name})
                )
                messages.append(
                    ChatMessage(role="tool", content=answer.as_text(), tool_call_id=call.id, name=call.name)
                )
        return messages[-1].content

    def result(self, output: str) -> AgentResult:
        return AgentResult(output=output, steps=self.steps, usage=self.usage)

    def goal(self) -> str:
        inputs = f"\n\nInputs: {json.dumps(self.request.inputs)}" if self.request.inputs else ""
        return self.request.task + inputs


_TASKS = {"type": "object", "properties": {"tasks": {"type": "array", "items": {"type": "string"}}},
          "required": ["tasks"], "additionalProperties": False}  # fmt: skip


class TaskListLoop(AgentFramework[NoConfig]):
    """Plan a task list for the goal and work it (AgentGPT-style); with recursive planning add new tasks (BabyAGI)."""

    name = "tasklist"
    title = "Task-list loop (AgentGPT/BabyAGI/AutoGPT-style)"
    framework = "task-list-loop"
    styles = ("simple", "recursive")

    async def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Plan, work each task with tools, re-plan when recursive, answer."""
        loop = _Loop(request, context)
        recursive = request.options.get("style") == "recursive" or bool(request.options.get("recursive"))
        limit = int(request.options.get("max_tasks", 6))  # type: ignore[arg-type]
        plan = await loop.ask_json(
            [loop.system("Split the goal into at most 5 short tasks, in order. Answer {\"tasks\": [...]}."),
             ChatMessage(role="user", content=loop.goal())],
            _TASKS,
        )  # fmt: skip
        tasks = [str(t) for t in plan.get("tasks", [])][:limit]
        await loop.note("plan", "; ".join(tasks), tasks=tasks)
        done: list[tuple[str, str]] = []
        while tasks and len(done) < limit:
            task = tasks.pop(0)
            context_lines = "\n".join(f"- {t}: {r}" for t, r in done)
            messages = [loop.system("Do this one task; call tools when they help. Answer with the task's result."),
                        ChatMessage(role="user", content=f"Goal: {loop.goal()}\nDone so far:\n{context_lines}\n"
                                                         f"Task: {task}")]  # fmt: skip
            outcome = await loop.work(messages)
            done.append((task, outcome))
            await loop.note("thought", f"{task} → {outcome[:300]}")
            if recursive and len(done) + len(tasks) < limit:
                more = await loop.ask_json(
                    [loop.system("Given the goal, the results so far and the tasks left, list new tasks still "
                                 "needed (none if the goal is reached). Answer {\"tasks\": [...]}."),
                     ChatMessage(role="user", content=f"Goal: {loop.goal()}\nResults: {json.dumps(done)}\n"
                                                      f"Left: {json.dumps(tasks)}")],
                    _TASKS,
                )  # fmt: skip
                added = [str(t) for t in more.get("tasks", [])][: max(0, limit - len(done) - len(tasks))]
                if added:
                    tasks.extend(added)
                    await loop.note("plan", "added: " + "; ".join(added), tasks=added)
        answer = await loop.ask(
            [loop.system("Write the final answer to the goal from the task results."),
             ChatMessage(role="user", content=f"Goal: {loop.goal()}\nResults: {json.dumps(done)}")]
        )  # fmt: skip
        return loop.result(answer.message.content)


_CHECK = {"type": "object", "properties": {"ok": {"type": "boolean"}, "problems": {"type": "array",
          "items": {"type": "string"}}}, "required": ["ok", "problems"], "additionalProperties": False}  # fmt: skip


class SelfFixLoop(AgentFramework[NoConfig]):
    """Produce, check, repair until the check passes (Archon-style self-fixing)."""

    name = "selffix"
    title = "Self-fixing loop (Archon-style)"
    framework = "self-fix-loop"
    styles = ("self_fix",)

    async def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Run, check (a check tool or the model's review), repair; at most ``max_rounds`` rounds."""
        loop = _Loop(request, context)
        rounds = int(request.options.get("max_rounds", 3))  # type: ignore[arg-type]
        check_tool = request.options.get("check_tool")
        messages = [loop.system("Solve the task; call tools when they help. Answer with the solution only."),
                    ChatMessage(role="user", content=loop.goal())]  # fmt: skip
        candidate = await loop.work(messages)
        for round_ in range(1, rounds + 1):
            if isinstance(check_tool, str):
                verdict = await loop.host.call_tool(
                    ToolCall(id=f"check_{round_}", name=check_tool, arguments={"candidate": candidate})
                )
                output = verdict.output if verdict.ok and isinstance(verdict.output, dict) else {}
                ok = bool(output.get("ok")) if verdict.ok else False
                problems = [str(p) for p in output.get("problems", [])] if verdict.ok else [str(verdict.error)]
            else:
                review = await loop.ask_json(
                    [loop.system("Check the candidate against the task strictly. Answer {\"ok\": bool, "
                                 "\"problems\": [...]}."),
                     ChatMessage(role="user", content=f"Task: {loop.goal()}\nCandidate: {candidate}")],
                    _CHECK,
                )  # fmt: skip
                ok, problems = bool(review.get("ok")), [str(p) for p in review.get("problems", [])]
            await loop.note("check", "passed" if ok else "; ".join(problems) or "failed", ok=ok, round=round_)
            if ok:
                return loop.result(candidate)
            if round_ == rounds:
                break
            repair = "The check found problems: " + "; ".join(problems)
            repair += "\nRepair the solution and answer with the whole repaired solution."
            messages.append(ChatMessage(role="user", content=repair))
            candidate = await loop.work(messages)
        raise NonRetryableError(
            f"the solution still fails its check after {rounds} rounds; last problems: {'; '.join(problems)}. "
            "Raise options.max_rounds or make the task clearer",
            error_type="SelfFixFailed",
            details={"candidate": candidate[:2000]},
        )


_DECIDE = {
    "type": "object",
    "properties": {
        "beliefs": {"type": "object"},
        "goal_met": {"type": "boolean"},
        "action": {"type": ["object", "null"], "properties": {"tool": {"type": "string"},
                                                              "arguments": {"type": "object"}}},
        "answer": {"type": "string"},
    },
    "required": ["beliefs", "goal_met", "action", "answer"],
}  # fmt: skip


class BeliefGoalLoop(AgentFramework[NoConfig]):
    """Keep beliefs, act toward the goal, observe, revise (Agent0-style belief/goal loop)."""

    name = "beliefgoal"
    title = "Belief/goal loop (Agent0-style)"
    framework = "belief-goal-loop"
    styles = ("belief_goal",)

    async def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Decide, act, observe until the model says the goal is met."""
        loop = _Loop(request, context)
        beliefs: dict[str, Any] = dict(request.inputs)
        tools = ", ".join(f"{t.name} ({t.description})" for t in request.tools) or "none"
        observation = "nothing yet"
        for turn in range(1, request.max_steps + 1):
            decision = await loop.ask_json(
                [loop.system(f"You pursue a goal. Tools: {tools}. Given your beliefs and the last observation, "
                             "revise the beliefs, say if the goal is met, choose at most one tool action, and give "
                             "the answer when the goal is met. Answer JSON {beliefs, goal_met, action, answer}."),
                 ChatMessage(role="user", content=f"Goal: {request.task}\nBeliefs: {json.dumps(beliefs)}\n"
                                                  f"Observation: {observation}")],
                _DECIDE,
            )  # fmt: skip
            if isinstance(decision.get("beliefs"), dict):
                beliefs.update(decision["beliefs"])
            await loop.note("thought", f"beliefs: {json.dumps(beliefs)[:300]}", turn=turn)
            if decision.get("goal_met"):
                return loop.result(str(decision.get("answer", "")))
            action = decision.get("action")
            if not isinstance(action, dict) or not action.get("tool"):
                observation = "no action was taken"
                continue
            answer = await loop.host.call_tool(
                ToolCall(id=f"act_{turn}", name=str(action["tool"]), arguments=dict(action.get("arguments") or {}))
            )
            observation = answer.as_text()[:4000]
        raise NonRetryableError(
            f"the goal was not met within {request.max_steps} turns; raise max_steps or make the goal reachable",
            error_type="GoalNotMet",
        )
