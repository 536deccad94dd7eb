"""Every request of the browser obeys the call's network policy, not only the page it was sent to.

The browser runs exactly as the plugin runs it (the SDK's managed Chromium and its egress
proxy); the policy is a double that refuses one host name, standing in for the host's policy
that refuses loopback and private ranges in server mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pages import Pages

from synthral_sdk.web import ManagedBrowser


class RefusesLocalhost:
    """Refuses the name 'localhost' (the same server is reachable as 127.0.0.1)."""

    def permitted(self, host: str, addresses: Sequence[str]) -> list[str]:
        if host == "localhost":
            raise PermissionError("refused to connect to localhost: a loopback address")
        return list(addresses)


def _visit(url: str, then: str | None = None) -> tuple[list[str], int | None, str | None]:
    async def main() -> tuple[list[str], int | None, str | None]:
        browser = ManagedBrowser()
        try:
            async with browser.context(network=RefusesLocalhost()) as (context, egress):
                page = await context.new_page()
                await page.goto(url)
                await page.wait_for_timeout(500)
                status = None
                if then is not None:
                    answer = await page.goto(then)
                    status = answer.status if answer is not None else None
                return [r.host for r in egress.refusals], status, await page.title()
        finally:
            await browser.close()

    return asyncio.run(main())


def test_images_and_scripts_fetches_to_a_refused_host_never_leave(pages: Pages) -> None:
    port = pages.url.rsplit(":", 1)[1]
    before = pages.hits["/pixel.png"], pages.hits["/file.csv"]

    refused, _, title = _visit(f"{pages.url}/hostile?to=localhost:{port}")

    assert title == "hostile"  # the page itself was allowed
    assert refused and set(refused) == {"localhost"}
    assert (pages.hits["/pixel.png"], pages.hits["/file.csv"]) == before


def test_navigating_to_a_refused_host_answers_the_refusal_not_the_page(pages: Pages) -> None:
    port = pages.url.rsplit(":", 1)[1]
    before = pages.hits["/form"]

    refused, status, _ = _visit(f"{pages.url}/js", then=f"http://localhost:{port}/form")

    assert status == 403 and "localhost" in refused
    assert pages.hits["/form"] == before
