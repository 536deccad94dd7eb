"""Crawl4AI on the system's Chromium through the plugin's process: depth, filters, markdown, streaming, batches."""

from __future__ import annotations

import pytest
from conftest import Site

from synthral_sdk.errors import InputInvalid
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient

FAST = {"politeness": {"requests_per_second": 200}}
LOCAL = {"network": NetworkPolicy.local().to_wire()}  # the test site is on this machine


def test_a_crawl_goes_breadth_first_within_depth_filters_and_pages(runner: RunnerClient, site: type[Site]) -> None:
    payload = {"url": f"{site.url}/doc/0", "max_depth": 2, "max_pages": 6, "exclude": ["*/skip/*"]}
    request_id = runner.send_request(
        "invoke", {"capability": "crawl", "operation": "run", "config": FAST, "input": payload, "context": LOCAL}
    )
    answer = runner.wait(request_id, timeout=240)
    assert isinstance(answer, dict)
    pages = answer["output"]["pages"]

    assert 3 < len(pages) <= 6  # the page budget holds
    assert {p["depth"] for p in pages} == {0, 1, 2}
    first = next(p for p in pages if p["url"].endswith("/doc/0"))
    assert "rendered text 0" in first["markdown"]  # JavaScript ran
    assert all(p["depth"] <= 2 for p in pages)
    assert site.hits["/skip/x"] == 0
    streamed = [data["url"] for kind, data in runner.events(request_id) if kind == "scrape.page"]
    assert sorted(streamed) == sorted(p["url"] for p in pages)


def test_a_batch_comes_back_in_order_for_the_hosts_crawl(runner: RunnerClient, site: type[Site]) -> None:
    urls = [f"{site.url}/doc/{n}" for n in (3, 4, 5)] + [f"{site.url}/private/a"]
    out = runner.invoke("fetch_pages", {"urls": urls, "include": ["markdown"]}, config=FAST, timeout=240)

    pages = out["pages"]
    assert [p["url"] for p in pages] == urls
    assert "rendered text 4" in pages[1]["markdown"]
    assert pages[3]["error_type"] == "RobotsDisallowed" and site.hits["/private/a"] == 0


def test_bad_input_is_named(runner: RunnerClient) -> None:
    with pytest.raises(InputInvalid, match="absolute http"):
        runner.invoke("crawl", {"url": "file:///etc/passwd"}, config=FAST)
