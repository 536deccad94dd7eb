"""The ``browser`` node over CDP: actions in a fresh context of a remote browser."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import BlobRef, Context, Node
from synthral_sdk.errors import NonRetryableError, RetryableError
from synthral_sdk.web import ActionResult, BrowserAction, ManagedBrowser, network_of, run_action

if TYPE_CHECKING:
    from playwright.async_api import Route

__all__ = ["RemoteBrowser"]

TOKEN_SECRET: Final = "browser_token"  # noqa: S105 -- a secret slot name
_GUARD: Final = ManagedBrowser()  # only its time limits: a remote browser has no local processes to watch


class RemoteConfig(BaseModel):
    """Where the remote browser is and how to reach it."""

    model_config = ConfigDict(extra="forbid")

    cdp_url: str = Field(description="The DevTools endpoint: ws://host/... or http://host:port.")
    token_header: str | None = Field(default=None, description="Send the browser_token credential in this header.")
    token_param: str | None = Field(default=None, description="Or append it to the URL as this query parameter.")
    connect_timeout_s: float = Field(default=30.0, gt=0, le=300)
    action_timeout_s: float = Field(default=30.0, gt=0, le=600)


class RemoteInput(BaseModel):
    """Actions, and the session's state from its previous step."""

    model_config = ConfigDict(extra="forbid")

    actions: list[BrowserAction] = Field(min_length=1, max_length=500)
    storage_state: BlobRef | None = None
    continue_on_error: bool = False


class RemoteOutput(BaseModel):
    """Each action's result and the state for the session's next step."""

    results: list[ActionResult]
    ok: bool
    storage_state: BlobRef | None = None
    url: str = ""
    title: str = ""
    refused: list[str] = Field(default_factory=list)


def _endpoint(config: RemoteConfig, token: str | None) -> tuple[str, dict[str, str]]:
    parts = urlsplit(config.cdp_url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise NonRetryableError(
            f"cdp_url {config.cdp_url[:200]!r} is not a DevTools endpoint; write ws://host/path or http://host:port",
            details={"field": "cdp_url"},
        )
    url, headers = config.cdp_url, {}
    if token and config.token_header:
        headers[config.token_header] = token
    elif token and config.token_param:
        url += ("&" if parts.query else "?") + urlencode({config.token_param: token})
    return url, headers


class RemoteBrowser(Node[RemoteInput, RemoteOutput, RemoteConfig]):
    """Run browser actions in a remote browser reached over CDP (a fleet, or any DevTools endpoint)."""

    name = "browser"
    title = "Remote browser actions"
    secrets = (TOKEN_SECRET,)

    async def run(self, inputs: RemoteInput, config: RemoteConfig, context: Context) -> RemoteOutput:
        """Connect, run the actions in a fresh context, keep its state, disconnect."""
        from playwright.async_api import async_playwright  # noqa: PLC0415 -- heavy

        url, headers = _endpoint(config, context.secrets.get(TOKEN_SECRET))
        network = network_of(context)
        refused: list[str] = []

        async def allowed(host: str) -> bool:
            if network is None:
                return True
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
                network.permitted(host, sorted({str(info[4][0]) for info in infos}))
            except Exception as exc:  # noqa: BLE001 -- refused, or not resolvable: either way not sent
                refused.append(f"{host}: {exc}")
                return False
            return True

        endpoint_host = urlsplit(config.cdp_url).hostname or ""
        if not await allowed(endpoint_host):
            raise NonRetryableError(f"the network policy refuses the DevTools endpoint {endpoint_host}: {refused[-1]}")

        async def guard(route: Route) -> None:
            host = urlsplit(route.request.url).hostname
            if host is None or await allowed(host):
                await route.continue_()
            else:
                await route.abort("blockedbyclient")

        storage = None
        if inputs.storage_state is not None:
            storage = json.loads(context.blobs.get(inputs.storage_state))
        results: list[ActionResult] = []
        async with async_playwright() as playwright:
            try:
                browser = await playwright.chromium.connect_over_cdp(
                    url, headers=headers or None, timeout=config.connect_timeout_s * 1000
                )
            except Exception as exc:  # noqa: BLE001 -- Playwright's Error and timeouts alike: the endpoint is unreachable
                raise RetryableError(
                    f"could not reach the remote browser at {endpoint_host}: {str(exc).splitlines()[0]}"
                ) from None
            try:
                browser_context = await browser.new_context(storage_state=storage)
                await browser_context.route("**/*", guard)
                page = await browser_context.new_page()
                for index, action in enumerate(inputs.actions):
                    context.check()
                    result = await run_action(
                        page,
                        action,
                        index,
                        blobs=context.blobs,
                        browser=_GUARD,
                        default_timeout=config.action_timeout_s,
                    )
                    results.append(result)
                    if not result.ok and not inputs.continue_on_error:
                        break
                state = await browser_context.storage_state()
                title, final_url = await page.title(), page.url
                await browser_context.close()
            finally:
                await browser.close()
        blob = context.blobs.put(json.dumps(state).encode(), media_type="application/json", name="storage-state.json")
        return RemoteOutput(
            results=results,
            ok=all(r.ok for r in results) and len(results) == len(inputs.actions),
            storage_state=blob,
            url=final_url,
            title=title,
            refused=refused,
        )
