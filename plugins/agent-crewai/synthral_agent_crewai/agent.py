"""CrewAI: a crew of role players, each with a task, working in order with the host's tools.

CrewAI's ``LLM`` is pointed at the SDK's gateway (``openai/<model>`` with its base URL), so
the host's provider, usage and budgets apply; each granted tool is a CrewAI ``BaseTool``
whose arguments model is built from the tool's JSON Schema and whose ``_run`` asks the
host. One role (or none) is a one-agent crew; several roles make a sequential crew, one
task per role, each seeing the previous results. CrewAI's telemetry is switched off: a
plugin reaches no network the host did not grant.
"""

from __future__ import annotations

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from typing import Any

from crewai import LLM, Agent, Crew, Process, Task
from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, create_model

from synthral_sdk import AgentFramework, AgentRequest, AgentResult, AgentStep, Context, NoConfig, ToolSpec
from synthral_sdk.agents import HostBridge, openai_gateway
from synthral_sdk.errors import BudgetExceeded

__all__ = ["CrewAgent"]

_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict,
                          "array": list}  # fmt: skip


def arguments_model(spec: ToolSpec) -> type[BaseModel]:
    """A pydantic model of the tool's JSON Schema (top-level properties; extra fields kept)."""
    schema = spec.parameters or {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    fields: dict[str, Any] = {}
    for name, prop in (properties or {}).items():
        kind = _TYPES.get(str(prop.get("type")), Any) if isinstance(prop, dict) else Any
        description = str(prop.get("description", "")) if isinstance(prop, dict) else ""
        if name in required:
            fields[name] = (kind, Field(description=description))
        else:
            fields[name] = (kind | None, Field(default=None, description=description))
    return create_model(f"{spec.name}_arguments", __config__=ConfigDict(extra="allow"), **fields)


class HostTool(BaseTool):
    """A CrewAI tool the host runs."""

    bridge: Any = None

    def _run(self, **arguments: Any) -> str:
        given = {k: v for k, v in arguments.items() if v is not None}
        return str(self.bridge.call_tool(self.name, given).as_text())


def _tool(spec: ToolSpec, bridge: HostBridge) -> HostTool:
    return HostTool(name=spec.name, description=spec.description or spec.name, args_schema=arguments_model(spec),
                    bridge=bridge)  # fmt: skip


class CrewAgent(AgentFramework[NoConfig]):
    """A CrewAI crew: one agent per role, one task each, in order, with the host's tools."""

    name = "crew"
    title = "CrewAI crew"
    framework = "crewai"
    styles = ("multi_role", "tool_calling")

    def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Kick the crew off; the host answers every model call and runs every tool."""
        bridge = HostBridge(context)
        goal = request.task + (f"\n\nInputs: {request.inputs}" if request.inputs else "")
        expected = "The answer to the task."
        if request.output_schema is not None:
            expected = f"JSON only, valid against this JSON Schema: {request.output_schema}"
        with openai_gateway(context) as endpoint:
            llm = LLM(model=f"openai/{request.model or 'default'}", base_url=endpoint.base_url,
                      api_key=endpoint.api_key, max_retries=0)  # fmt: skip
            tools = [_tool(spec, bridge) for spec in request.tools]
            roles = request.roles or []
            members = [
                (r.name, r.goal or request.task, r.instructions or f"You are the team's {r.name}.") for r in roles
            ]
            if not members:
                members = [("assistant", request.task, request.instructions or "You solve tasks with your tools.")]
            agents = [Agent(role=name, goal=aim, backstory=story, llm=llm, tools=tools, allow_delegation=False,
                            max_iter=request.max_steps, verbose=False)
                      for name, aim, story in members]  # fmt: skip
            tasks = [Task(description=goal if i == len(agents) - 1 else f"{goal}\n\nYour part as {a.role}: {a.goal}",
                          expected_output=expected if i == len(agents) - 1 else "Your part of the work.", agent=a)
                     for i, a in enumerate(agents)]  # fmt: skip
            crew = Crew(agents=agents, tasks=tasks, process=Process.sequential, verbose=False, tracing=False)
            try:
                output = crew.kickoff()
            except BudgetExceeded:
                raise
            except Exception:
                endpoint.raise_failure()
                raise
        endpoint.raise_failure()
        steps = [AgentStep(kind="message", content=str(t.raw)[:2000], data={"role": t.agent})
                 for t in output.tasks_output]  # fmt: skip
        return AgentResult(output=str(output.raw), steps=steps)
