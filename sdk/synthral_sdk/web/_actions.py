"""Browser actions: one model for the steps a person would take, one runner over a Playwright page.

Shared by the browser plugins (local, remote over CDP, the agent), so a sequence means the
same thing whichever browser runs it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk.blobs import BlobStore
from synthral_sdk.errors import BrowserKilled
from synthral_sdk.types import BlobRef

if TYPE_CHECKING:
    from playwright.async_api import Page

    from synthral_sdk.web._playwright import ManagedBrowser

__all__ = ["ActionResult", "BrowserAction", "run_action"]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float | None = Field(default=None, gt=0, le=600, description="This action's limit; else the node's.")


class Goto(_Action):
    """Open a URL."""

    action: Literal["goto"]
    url: str
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"


class Click(_Action):
    """Click the first element matching a selector (CSS, or Playwright's text=/role= forms)."""

    action: Literal["click"]
    selector: str


class Fill(_Action):
    """Type a value into an input."""

    action: Literal["fill"]
    selector: str
    value: str


class Select(_Action):
    """Choose options of a <select>."""

    action: Literal["select"]
    selector: str
    values: list[str]


class Press(_Action):
    """Press a key (Enter, Tab, Control+A), on an element or the page."""

    action: Literal["press"]
    key: str
    selector: str | None = None


class Scroll(_Action):
    """Scroll to the bottom, by pixels, or to an element."""

    action: Literal["scroll"]
    to: Literal["bottom", "top"] | None = "bottom"
    by: int | None = None
    selector: str | None = None


class Wait(_Action):
    """Wait for a selector to appear, or a number of milliseconds."""

    action: Literal["wait"]
    selector: str | None = None
    ms: int | None = Field(default=None, ge=0, le=600_000)
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"


class Evaluate(_Action):
    """Run a JavaScript expression or function in the page; its JSON result comes back."""

    action: Literal["evaluate"]
    script: str = Field(max_length=100_000)


class Screenshot(_Action):
    """A PNG of the viewport, the whole page, or one element; stored as a blob."""

    action: Literal["screenshot"]
    full_page: bool = False
    selector: str | None = None


class Pdf(_Action):
    """The page printed as PDF; stored as a blob."""

    action: Literal["pdf"]


class Extract(_Action):
    """The page's (or an element's) text, HTML, or a list of matches' texts."""

    action: Literal["extract"]
    what: Literal["text", "html", "all_text", "attribute"] = "text"
    selector: str | None = None
    attribute: str | None = None


class Download(_Action):
    """Click what starts a download and keep the file as a blob."""

    action: Literal["download"]
    selector: str


BrowserAction = Annotated[
    Goto | Click | Fill | Select | Press | Scroll | Wait | Evaluate | Screenshot | Pdf | Extract | Download,
    Field(discriminator="action"),
]


class ActionResult(BaseModel):
    """What one action did."""

    index: int
    action: str
    ok: bool
    value: JsonValue = None
    file: BlobRef | None = None
    error: str | None = None
    url: str = ""
    duration_ms: int = 0


async def run_action(
    page: Page, action: Any, index: int, *, blobs: BlobStore, browser: ManagedBrowser, default_timeout: float
) -> ActionResult:
    """Run one action on ``page`` within its time limit; failures of the page come back in the result.

    Raises:
        BrowserKilled: The browser hung or ballooned and was killed (the run cannot go on).
    """
    from playwright.async_api import Error as PlaywrightError  # noqa: PLC0415 -- only plugins with playwright

    started = time.monotonic()
    limit = action.timeout_s or default_timeout
    result = ActionResult(index=index, action=action.action, ok=True)
    try:
        result.value, result.file = await browser.guarded(
            _perform(page, action, blobs, limit), action.action, limit + 5
        )
    except BrowserKilled:
        raise
    except PlaywrightError as exc:
        result.ok = False
        result.error = str(exc).splitlines()[0][:1000]
    result.url = page.url if not page.is_closed() else ""
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


async def _perform(page: Page, action: Any, blobs: BlobStore, limit: float) -> tuple[JsonValue, BlobRef | None]:
    ms = limit * 1000
    kind = action.action
    if kind == "goto":
        response = await page.goto(action.url, wait_until=action.wait_until, timeout=ms)
        return {"status": response.status if response is not None else None}, None
    if kind == "click":
        await page.click(action.selector, timeout=ms)
    elif kind == "fill":
        await page.fill(action.selector, action.value, timeout=ms)
    elif kind == "select":
        return list(await page.select_option(action.selector, action.values, timeout=ms)), None
    elif kind == "press":
        if action.selector:
            await page.press(action.selector, action.key, timeout=ms)
        else:
            await page.keyboard.press(action.key)
    elif kind == "scroll":
        if action.selector:
            await page.locator(action.selector).first.scroll_into_view_if_needed(timeout=ms)
        elif action.by is not None:
            await page.mouse.wheel(0, action.by)
        else:
            await page.evaluate("(top) => window.scrollTo(0, top ? 0 : document.body.scrollHeight)", action.to == "top")
    elif kind == "wait":
        if action.selector:
            await page.wait_for_selector(action.selector, state=action.state, timeout=ms)
        else:
            await page.wait_for_timeout(action.ms or 0)
    elif kind == "evaluate":
        return await page.evaluate(action.script), None
    elif kind == "screenshot":
        target = page.locator(action.selector).first if action.selector else page
        png = (
            await target.screenshot(full_page=action.full_page, timeout=ms)
            if not action.selector
            else await target.screenshot(timeout=ms)
        )
        return None, blobs.put(png, media_type="image/png", name="screenshot.png")
    elif kind == "pdf":
        return None, blobs.put(await page.pdf(), media_type="application/pdf", name="page.pdf")
    elif kind == "extract":
        return await _extract(page, action, ms), None
    elif kind == "download":
        async with page.expect_download(timeout=ms) as info:
            await page.click(action.selector, timeout=ms)
        download = await info.value
        path = await download.path()
        return {"name": download.suggested_filename}, blobs.put_file(path, name=download.suggested_filename)
    return None, None


async def _extract(page: Page, action: Extract, ms: float) -> JsonValue:
    if action.what == "all_text":
        return list(await page.locator(action.selector or "body").all_inner_texts())
    locator = page.locator(action.selector).first if action.selector else page.locator("html")
    if action.what == "html":
        return str(await locator.inner_html(timeout=ms) if action.selector else await page.content())
    if action.what == "attribute":
        value = await locator.get_attribute(action.attribute or "href", timeout=ms)
        return None if value is None else str(value)
    return str(
        await locator.inner_text(timeout=ms) if action.selector else await page.locator("body").inner_text(timeout=ms)
    )
