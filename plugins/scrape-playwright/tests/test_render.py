"""Rendering JavaScript pages through the plugin's process on the real Chromium."""

from __future__ import annotations

import pytest
from conftest import Site

from synthral_sdk.errors import InputInvalid, RobotsDisallowed
from synthral_sdk.testing import RunnerClient

FAST = {"politeness": {"requests_per_second": 100}}


def test_script_rendered_content_is_waited_for_and_extracted(runner: RunnerClient, site: type[Site]) -> None:
    out = runner.invoke(
        "render",
        {
            "url": f"{site.url}/shop",
            "wait_for": ".item",
            "remove": [".ad"],
            "fields": {"ids": {"css": ".item", "attr": "data-id", "all": True}, "first": {"css": ".item"}},
            "screenshot": True,
        },
        config=FAST,
    )

    assert out["title"] == "Shop" and out["status"] == 200
    assert "item 2" in out["text"] and "buy now" not in out["text"]
    assert out["fields"] == {"ids": ["1", "2", "3"], "first": "item 1"}
    assert f"{site.url}/item/3" in out["links"]
    assert out["screenshot"]["mediaType"] == "image/png"


def test_a_batch_renders_in_parallel_tabs(runner: RunnerClient, site: type[Site]) -> None:
    urls = [f"{site.url}/item/{n}" for n in range(1, 7)]
    out = runner.invoke("render_pages", {"urls": urls, "include": ["text"]}, operation="run", config=FAST)

    assert [page["title"] for page in out["pages"]] == [f"Item {n}" for n in range(1, 7)]
    assert all(page["text"] == "item page" for page in out["pages"])


def test_robots_txt_is_honoured(runner: RunnerClient, site: type[Site]) -> None:
    with pytest.raises(RobotsDisallowed):
        runner.invoke("render", {"url": f"{site.url}/private/x"}, config=FAST)


def test_bad_input_is_named(runner: RunnerClient) -> None:
    with pytest.raises(InputInvalid, match="absolute http"):
        runner.invoke("render", {"url": "file:///etc/passwd"}, config=FAST)
    with pytest.raises(InputInvalid, match="include"):
        runner.invoke("render", {"url": "http://127.0.0.1/", "include": ["pdf"]}, config=FAST)
