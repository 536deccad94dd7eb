"""The egress proxy: every connection checked by the policy it holds, chained to an upstream proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import httpx
import pytest

from synthral_sdk.web import EgressProxy, parse_proxy_list
from tests.support.web_site import WebSite


class RefusesLocalhost:
    """A policy double: refuses the name 'localhost', allows the rest (the real policy is tested on its own)."""

    def permitted(self, host: str, addresses: Sequence[str]) -> list[str]:
        if host == "localhost":
            raise PermissionError("refused to connect to localhost: a loopback address")
        return list(addresses)


@pytest.fixture(scope="module")
def site() -> Iterator[WebSite]:
    with WebSite(pages=5) as running:
        yield running


async def _get(proxy: str, url: str) -> httpx.Response:
    async with httpx.AsyncClient(proxy=proxy, trust_env=False, timeout=10) as client:
        return await client.get(url)


def test_plain_requests_go_through_and_refusals_answer_403_naming_why(site: WebSite) -> None:
    async def main() -> tuple[httpx.Response, httpx.Response, EgressProxy]:
        async with EgressProxy(RefusesLocalhost()) as egress:
            ok = await _get(egress.url, f"{site.url}/p/1")
            refused = await _get(egress.url, site.url.replace("127.0.0.1", "localhost") + "/p/1")
            return ok, refused, egress

    ok, refused, egress = asyncio.run(main())

    assert ok.status_code == 200 and "Page 1" in ok.text
    assert refused.status_code == 403 and "loopback" in refused.text
    assert refused.headers["x-synthral-refused"] == "egress"
    assert [r.host for r in egress.refusals] == ["localhost"]


def test_requests_chain_through_the_upstream_proxy(site: WebSite) -> None:
    async def main() -> tuple[httpx.Response, int]:
        async with EgressProxy() as upstream:
            [proxy] = parse_proxy_list(upstream.url)
            async with EgressProxy(upstream=lambda host: proxy) as egress:
                answer = await _get(egress.url, f"{site.url}/p/2")
            return answer, upstream.connections

    answer, upstream_connections = asyncio.run(main())

    assert answer.status_code == 200 and "Page 2" in answer.text
    assert upstream_connections == 1


def test_chromium_is_told_to_send_even_loopback_through_it() -> None:
    egress = EgressProxy()
    egress.port = 4321
    assert egress.chromium_args() == ["--proxy-server=http://127.0.0.1:4321", "--proxy-bypass-list=<-loopback>"]
