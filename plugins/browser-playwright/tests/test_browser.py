"""Action sequences on the real Chromium through the plugin's process: results, files, sessions, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pages import Pages

from synthral_sdk import BlobRef, BlobStore
from synthral_sdk.errors import InputInvalid, RetryableError
from synthral_sdk.testing import RunnerClient


def blobs_of(runner: RunnerClient) -> BlobStore:
    return BlobStore(Path(runner.blob_root))


def test_a_form_is_filled_and_submitted_and_the_page_kept_as_files(runner: RunnerClient, pages: Pages) -> None:
    actions = [
        {"action": "goto", "url": f"{pages.url}/form"},
        {"action": "fill", "selector": "#who", "value": "Ada"},
        {"action": "select", "selector": "#size", "values": ["l"]},
        {"action": "screenshot"},
        {"action": "click", "selector": "#go"},
        {"action": "wait", "selector": "#echo"},
        {"action": "extract", "selector": "#echo"},
        {"action": "evaluate", "script": "() => document.title + '!'"},
        {"action": "pdf"},
    ]
    out = runner.invoke("browser", {"actions": actions})

    assert out["ok"] is True
    results = out["results"]
    assert results[0]["value"] == {"status": 200}
    assert results[2]["value"] == ["l"]
    assert results[6]["value"] == "who=Ada&size=l"
    assert results[7]["value"] == "Done!"
    blobs = blobs_of(runner)
    assert blobs.get(BlobRef.model_validate(results[3]["file"])).startswith(b"\x89PNG")
    assert blobs.get(BlobRef.model_validate(results[8]["file"])).startswith(b"%PDF")
    assert out["title"] == "Done" and out["url"].startswith(f"{pages.url}/submit")
    assert pages.hits["/pixel.png"] >= 1  # sub-resources load (through the egress proxy)


def test_javascript_content_is_waited_for(runner: RunnerClient, pages: Pages) -> None:
    actions = [
        {"action": "goto", "url": f"{pages.url}/js"},
        {"action": "wait", "selector": ".late"},
        {"action": "extract", "what": "all_text", "selector": "p"},
    ]
    out = runner.invoke("browser", {"actions": actions})

    assert out["results"][2]["value"] == ["rendered by script"]


def test_a_download_is_kept_as_a_blob(runner: RunnerClient, pages: Pages) -> None:
    out = runner.invoke(
        "browser",
        {"actions": [{"action": "goto", "url": f"{pages.url}/form"}, {"action": "download", "selector": "#file"}]},
    )

    result = out["results"][1]
    assert result["ok"] is True and result["value"] == {"name": "file.csv"}
    assert blobs_of(runner).get(BlobRef.model_validate(result["file"])) == b"a,b\n1,2\n"


def test_cookies_and_storage_carry_over_between_steps_of_a_session(runner: RunnerClient, pages: Pages) -> None:
    first = runner.invoke("browser", {"actions": [{"action": "goto", "url": f"{pages.url}/login"}]})
    state = first["storage_state"]
    saved = json.loads(blobs_of(runner).get(BlobRef.model_validate(state)))
    assert [c["name"] for c in saved["cookies"]] == ["session"]

    second = runner.invoke(
        "browser",
        {
            "actions": [
                {"action": "goto", "url": f"{pages.url}/whoami"},
                {"action": "extract", "selector": "#me"},
                {"action": "evaluate", "script": "() => localStorage.getItem('token')"},
            ],
            "storage_state": state,
        },
    )
    assert second["results"][1]["value"] == "session=s3cr3t"
    assert second["results"][2]["value"] == "abc"

    fresh = runner.invoke(
        "browser",
        {"actions": [{"action": "goto", "url": f"{pages.url}/whoami"}, {"action": "extract", "selector": "#me"}]},
    )
    assert fresh["results"][1]["value"] == "nobody"


def test_a_failed_action_stops_the_run_unless_told_to_go_on(runner: RunnerClient, pages: Pages) -> None:
    actions = [
        {"action": "goto", "url": f"{pages.url}/form"},
        {"action": "click", "selector": "#missing", "timeout_s": 1},
        {"action": "extract", "selector": "#who", "what": "attribute", "attribute": "name"},
    ]
    stopped = runner.invoke("browser", {"actions": actions})
    assert stopped["ok"] is False and len(stopped["results"]) == 2
    assert "Timeout" in stopped["results"][1]["error"]

    went_on = runner.invoke("browser", {"actions": actions, "continue_on_error": True})
    assert went_on["results"][2]["value"] == "who"


def test_a_hung_page_kills_the_browser_and_the_next_call_gets_a_new_one(runner: RunnerClient, pages: Pages) -> None:
    actions = [
        {"action": "goto", "url": f"{pages.url}/form"},
        {"action": "evaluate", "script": "() => { while (true) {} }", "timeout_s": 2},
    ]
    with pytest.raises(RetryableError, match="hung on evaluate"):
        runner.invoke("browser", {"actions": actions}, timeout=90)

    again = runner.invoke("browser", {"actions": [{"action": "goto", "url": f"{pages.url}/form"}]})
    assert again["ok"] is True


def test_a_browser_that_balloons_past_its_memory_is_killed_and_replaced(runner: RunnerClient, pages: Pages) -> None:
    grow = "() => { const keep = []; for (;;) { keep.push(new Array(1e6).fill(Math.random())); } }"
    actions = [{"action": "goto", "url": f"{pages.url}/form"}, {"action": "evaluate", "script": grow, "timeout_s": 60}]
    with pytest.raises(RetryableError, match="MiB"):
        runner.invoke("browser", {"actions": actions}, config={"memory_mb": 700}, timeout=120)

    again = runner.invoke("browser", {"actions": [{"action": "goto", "url": f"{pages.url}/js"}]})
    assert again["ok"] is True


def test_an_unknown_action_is_named(runner: RunnerClient) -> None:
    with pytest.raises(InputInvalid, match=r"actions\.0"):
        runner.invoke("browser", {"actions": [{"action": "teleport"}]})
