"""The ``agent`` node: observe the page, ask the model for one action, run it, until done or out of steps."""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from synthral_sdk import BlobRef, Context, Node
from synthral_sdk.web import (
    BrowserLimits,
    LLMEndpoint,
    ManagedBrowser,
    ask_json,
    network_of,
    run_action,
)
from synthral_sdk.web._actions import Click, Extract, Fill, Goto, Press, Scroll, Select

__all__ = ["BROWSER", "BrowserAgent"]

LLM_SECRET: Final = "llm_api_key"  # noqa: S105 -- a secret slot name
BROWSER: Final = ManagedBrowser()
_MARK: Final = """() => {
  const wanted = 'a[href], button, input, select, textarea, [role=button], [onclick]';
  const found = [];
  document.querySelectorAll(wanted).forEach((el) => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) return;
    const n = found.length + 1;
    el.setAttribute('data-synthral-id', String(n));
    const label = (el.innerText || el.value || el.getAttribute('aria-label') || el.getAttribute('placeholder')
      || el.getAttribute('name') || el.getAttribute('href') || '').trim().slice(0, 80);
    found.push(`[${n}] <${el.tagName.toLowerCase()}${el.type ? ' type=' + el.type : ''}> ${label}`);
  });
  return found;
}"""
_SYSTEM: Final = """You operate a web browser to reach a goal. Each turn you see the page and its numbered elements.
Answer with one JSON object: {"reason": "...", "action": A, ...} where A is one of:
"click" with "target" (an element number); "fill" with "target" and "value"; "select" with "target" and "value";
"press" with "key" (and optional "target"); "scroll"; "goto" with "url"; "extract" with optional "target";
"done" with "answer" (the result the goal asks for). Take one action per turn."""


class AgentConfig(BaseModel):
    """The model and the agent's bounds."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMEndpoint | None = Field(
        default=None, description="An OpenAI-compatible endpoint; the host's LLM when unset."
    )
    model: str = Field(default="", description="The model to ask the host for; the step's default when empty.")
    max_steps: int = Field(default=15, ge=1, le=100, description="The agent stops after this many actions.")
    action_timeout_s: float = Field(default=20.0, gt=0, le=300)
    memory_mb: int = Field(default=1536, ge=128, le=32768)
    page_chars: int = Field(default=6000, ge=500, le=100_000, description="Page text shown to the model per step.")


class AgentInput(BaseModel):
    """What to achieve and where to start."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=4000)
    start_url: str
    storage_state: BlobRef | None = None


class AgentStepRecord(BaseModel):
    """One step: what the model decided and how it went."""

    n: int
    action: str
    reason: str = ""
    detail: dict[str, JsonValue] = Field(default_factory=dict)
    ok: bool = True
    error: str | None = None
    value: JsonValue = None
    url: str = ""


class AgentOutput(BaseModel):
    """How the agent ended."""

    done: bool
    answer: JsonValue = None
    stopped: Literal["done", "max_steps"]
    steps: list[AgentStepRecord]
    url: str = ""
    title: str = ""
    storage_state: BlobRef | None = None


def _action(decision: dict[str, Any]) -> Any:
    """The browser action a decision names (``None`` for done), or a ValueError naming what is wrong."""
    kind = decision.get("action")
    target = decision.get("target")
    selector = (
        f'[data-synthral-id="{int(target)}"]'
        if isinstance(target, int | float | str) and str(target).isdigit()
        else None
    )
    built: dict[str, Any] = {
        "click": lambda: Click(action="click", selector=selector or ""),
        "fill": lambda: Fill(action="fill", selector=selector or "", value=str(decision.get("value", ""))),
        "select": lambda: Select(action="select", selector=selector or "", values=[str(decision.get("value", ""))]),
        "press": lambda: Press(action="press", key=str(decision.get("key", "Enter")), selector=selector),
        "scroll": lambda: Scroll(action="scroll"),
        "goto": lambda: Goto(action="goto", url=str(decision.get("url", ""))),
        "extract": lambda: Extract(action="extract", selector=selector),
    }
    if kind not in built:
        raise ValueError(f"unknown action {kind!r}; use one of {', '.join([*built, 'done'])}")
    if kind in ("click", "fill", "select") and selector is None:
        raise ValueError(f"'{kind}' needs a 'target': the number of an element in the list")
    return built[kind]()


class BrowserAgent(Node[AgentInput, AgentOutput, AgentConfig]):
    """Work towards a goal in the browser, one model-chosen action per step, within a step budget."""

    name = "agent"
    title = "Browser agent"
    secrets = (LLM_SECRET,)

    async def run(self, inputs: AgentInput, config: AgentConfig, context: Context) -> AgentOutput:
        """Observe, decide, act, until done or out of steps."""
        BROWSER.limits = BrowserLimits(memory_mb=config.memory_mb, operation_s=config.action_timeout_s)
        options: dict[str, Any] = {}
        if inputs.storage_state is not None:
            options["storage_state"] = json.loads(context.blobs.get(inputs.storage_state))
        steps: list[AgentStepRecord] = []
        history: list[str] = []
        answer: JsonValue = None
        done = False
        async with BROWSER.context(network=network_of(context), **options) as (browser_context, _):
            page = await BROWSER.guarded(browser_context.new_page(), "opening a page")
            start = await run_action(
                page,
                Goto(action="goto", url=inputs.start_url),
                0,
                blobs=context.blobs,
                browser=BROWSER,
                default_timeout=config.action_timeout_s,
            )
            if not start.ok:
                history.append(f"opening {inputs.start_url} failed: {start.error}")
            for n in range(1, config.max_steps + 1):
                context.check()
                elements = await BROWSER.guarded(page.evaluate(_MARK), "observing the page")
                text = await BROWSER.guarded(page.locator("body").inner_text(), "reading the page")
                observation = (
                    f"Goal: {inputs.goal}\nURL: {page.url}\nTitle: {await page.title()}\n"
                    f"Text:\n{text[: config.page_chars]}\nElements:\n"
                    + "\n".join(elements[:300])
                    + ("\nEarlier steps:\n" + "\n".join(history[-20:]) if history else "")
                )
                decision = await ask_json(
                    context,
                    [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": observation}],
                    endpoint=config.llm,
                    api_key=context.secrets.get(LLM_SECRET),
                    model=config.model,
                )
                reason = str(decision.get("reason", ""))[:500]
                record = AgentStepRecord(n=n, action=str(decision.get("action")), reason=reason)
                record.detail = {k: v for k, v in decision.items() if k not in ("action", "reason")}
                if decision.get("action") == "done":
                    answer, done = decision.get("answer"), True
                    record.url = page.url
                    steps.append(record)
                    context.emit("agent.step", record.model_dump(mode="json"))
                    break
                try:
                    action = _action(decision)
                except (ValueError, ValidationError) as exc:
                    record.ok, record.error = False, str(exc).splitlines()[0]
                else:
                    result = await run_action(
                        page, action, n, blobs=context.blobs, browser=BROWSER, default_timeout=config.action_timeout_s
                    )
                    record.ok, record.error, record.value = result.ok, result.error, result.value
                record.url = page.url
                steps.append(record)
                history.append(
                    f"{n}. {record.action} {json.dumps(record.detail)[:200]} -> "
                    + ("ok" if record.ok else f"failed: {record.error}")
                    + (f" value={json.dumps(record.value)[:300]}" if record.value is not None else "")
                )
                context.emit("agent.step", record.model_dump(mode="json"))
                context.report_progress(n / config.max_steps, f"step {n}: {record.action}")
            state = await BROWSER.guarded(browser_context.storage_state(), "saving the session")
            title, url = await page.title(), page.url
        blob = context.blobs.put(json.dumps(state).encode(), media_type="application/json", name="storage-state.json")
        return AgentOutput(
            done=done, answer=answer, stopped="done" if done else "max_steps", steps=steps, url=url, title=title,
            storage_state=blob,
        )  # fmt: skip
