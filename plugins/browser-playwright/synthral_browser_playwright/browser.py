"""The ``browser`` node: a sequence of actions in one browser context, its storage state kept."""

from __future__ import annotations

import json
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import BlobRef, Context, Node
from synthral_sdk.errors import NonRetryableError
from synthral_sdk.web import (
    ActionResult,
    BrowserAction,
    BrowserLimits,
    DomainRules,
    ManagedBrowser,
    ProxyEvent,
    ProxyPool,
    domain_of,
    network_of,
    run_action,
)

__all__ = ["BROWSER", "Browser", "BrowserConfig", "BrowserInput", "BrowserOutput"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
BROWSER: Final = ManagedBrowser()
"""The process's Chromium, shared by every call."""


class BrowserConfig(BaseModel):
    """The browser's limits and looks."""

    model_config = ConfigDict(extra="forbid")

    action_timeout_s: float = Field(default=30.0, gt=0, le=600, description="Each action's limit unless it sets one.")
    memory_mb: int = Field(default=1536, ge=128, le=32768, description="The browser is killed past this.")
    viewport_width: int = Field(default=1280, ge=200, le=7680)
    viewport_height: int = Field(default=800, ge=200, le=4320)
    user_agent: str | None = None
    locale: str = "en-US"


class BrowserInput(BaseModel):
    """Actions to run, and the session's state from its previous step."""

    model_config = ConfigDict(extra="forbid")

    actions: list[BrowserAction] = Field(min_length=1, max_length=500)
    storage_state: BlobRef | None = Field(default=None, description="Cookies and storage from the session's last step.")
    continue_on_error: bool = Field(default=False, description="Run the next actions after one failed.")
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class BrowserOutput(BaseModel):
    """Each action's result, and the state to hand to the session's next step."""

    results: list[ActionResult]
    ok: bool
    storage_state: BlobRef | None = None
    url: str = ""
    title: str = ""
    refused: list[str] = Field(default_factory=list, description="Requests the network policy refused.")
    proxy_log: list[ProxyEvent] = Field(default_factory=list)


class Browser(Node[BrowserInput, BrowserOutput, BrowserConfig]):
    """Run browser actions: goto, click, fill, select, press, scroll, wait, evaluate, screenshot, pdf, extract..."""

    name = "browser"
    title = "Browser actions"
    secrets = (PROXY_SECRET,)

    async def run(self, inputs: BrowserInput, config: BrowserConfig, context: Context) -> BrowserOutput:
        """Run the actions in a fresh context loaded with the session's state."""
        BROWSER.limits = BrowserLimits(memory_mb=config.memory_mb, operation_s=config.action_timeout_s)
        pool = ProxyPool.shared(context.secrets[PROXY_SECRET]) if context.secrets.get(PROXY_SECRET) else None
        upstream = (lambda host: pool.choose(domain_of(f"http://{host}/"))) if pool else None
        options: dict[str, object] = {
            "viewport": {"width": config.viewport_width, "height": config.viewport_height},
            "locale": config.locale,
            "accept_downloads": True,
        }
        if config.user_agent:
            options["user_agent"] = config.user_agent
        if inputs.storage_state is not None:
            try:
                options["storage_state"] = json.loads(context.blobs.get(inputs.storage_state))
            except ValueError:
                raise NonRetryableError(
                    "storage_state is not a browser storage state (JSON with cookies and origins); "
                    "pass the blob a previous browser step returned",
                    details={"field": "storage_state"},
                ) from None
        results: list[ActionResult] = []
        async with BROWSER.context(network=network_of(context), upstream=upstream, **options) as (
            browser_context,
            egress,
        ):
            page = await BROWSER.guarded(browser_context.new_page(), "opening a page")
            for index, action in enumerate(inputs.actions):
                context.check()
                result = await run_action(
                    page, action, index, blobs=context.blobs, browser=BROWSER, default_timeout=config.action_timeout_s
                )
                results.append(result)
                context.report_progress(
                    (index + 1) / len(inputs.actions), f"{action.action} {index + 1}/{len(inputs.actions)}"
                )
                if not result.ok and not inputs.continue_on_error:
                    break
            state = await BROWSER.guarded(browser_context.storage_state(), "saving the session")
            title = await BROWSER.guarded(page.title(), "reading the title")
            refused = [f"{r.host}:{r.port}: {r.reason}" for r in egress.refusals]
            url = page.url
        blob = context.blobs.put(json.dumps(state).encode(), media_type="application/json", name="storage-state.json")
        return BrowserOutput(
            results=results,
            ok=all(r.ok for r in results) and len(results) == len(inputs.actions),
            storage_state=blob,
            url=url,
            title=title,
            refused=refused,
            proxy_log=pool.drain() if pool else [],
        )
