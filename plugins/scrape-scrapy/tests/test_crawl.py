"""Spiders through the plugin's process: items streamed as events before the answer, rules, budgets, robots."""

from __future__ import annotations

import pytest
from conftest import Site

from synthral_sdk.errors import InputInvalid, NonRetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient

LOCAL = {"network": NetworkPolicy.local().to_wire()}  # the test site is on this machine

FAST = {"politeness": {"requests_per_second": 500, "concurrency_per_domain": 8}}


def test_items_stream_back_as_events_and_the_answer_counts_them(runner: RunnerClient, site: type[Site]) -> None:
    payload = {
        "start_urls": [f"{site.url}/p/0"],
        "allow": [r"/p/\d+$"],
        "fields": {"price": {"css": ".price"}, "links": {"xpath": "//a", "attr": "href", "all": True}},
        "max_depth": 2,
        "max_pages": 100,
    }
    request_id = runner.send_request(
        "invoke", {"capability": "crawl", "operation": "run", "config": FAST, "input": payload, "context": LOCAL}
    )
    answer = runner.wait(request_id, timeout=120)

    assert isinstance(answer, dict)
    out = answer["output"]
    events = runner.events(request_id)
    assert {kind for kind, _ in events} == {"scrape.item"}
    assert out["item_count"] == len(events) == 13  # page 0, its 3 children, their 9 children
    titles = {data["title"] for _, data in events}
    assert "Page 12" in titles and "Page 13" not in titles
    item = next(data for _, data in events if data["title"] == "Page 2")
    assert item["price"] == "2.50" and "/p/7" in item["links"]
    assert not any("/skip" in key for key in site.hits)  # the allow rule held


def test_an_installed_spider_runs_by_name(runner: RunnerClient, site: type[Site]) -> None:
    out = runner.invoke(
        "crawl", {"spider": "my_spiders:Prices", "spider_args": {"base": site.url}}, config=FAST, timeout=120
    )

    assert sorted((i["page"], i["price"]) for i in out["items"]) == [("1", "1.50"), ("2", "2.50"), ("3", "3.50")]


def test_robots_txt_and_the_page_budget_hold(runner: RunnerClient, site: type[Site]) -> None:
    out = runner.invoke("crawl", {"start_urls": [f"{site.url}/other"], "max_pages": 5}, config=FAST, timeout=120)
    assert site.hits["/private/a"] == 0

    capped = runner.invoke("crawl", {"start_urls": [f"{site.url}/p/0"], "max_pages": 5}, config=FAST, timeout=120)
    assert capped["pages"] == 5 and capped["item_count"] == 5
    del out


def test_bad_spiders_and_rules_are_named(runner: RunnerClient) -> None:
    with pytest.raises(InputInvalid, match="start_urls"):
        runner.invoke("crawl", {})
    with pytest.raises(InputInvalid, match="not a regular expression"):
        runner.invoke("crawl", {"start_urls": ["http://127.0.0.1/"], "allow": ["("]})
    with pytest.raises(NonRetryableError, match="could not be loaded"):
        runner.invoke("crawl", {"spider": "no_such_module:Spider"}, timeout=120)
