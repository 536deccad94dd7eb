"""Actions in a remote browser over CDP (a local Chromium with a debugging port stands in for the fleet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pages import Pages

from synthral_sdk import BlobRef, BlobStore
from synthral_sdk.errors import NonRetryableError, RetryableError
from synthral_sdk.testing import RunnerClient


def test_actions_run_in_the_remote_browser_and_the_session_carries_over(
    runner: RunnerClient, pages: Pages, remote: str
) -> None:
    login = runner.invoke(
        "browser", {"actions": [{"action": "goto", "url": f"{pages.url}/login"}]}, config={"cdp_url": remote}
    )
    assert login["ok"] is True
    state = json.loads(BlobStore(Path(runner.blob_root)).get(BlobRef.model_validate(login["storage_state"])))
    assert state["cookies"][0]["name"] == "session"

    out = runner.invoke(
        "browser",
        {
            "actions": [
                {"action": "goto", "url": f"{pages.url}/whoami"},
                {"action": "extract", "selector": "#me"},
                {"action": "screenshot"},
            ],
            "storage_state": login["storage_state"],
        },
        config={"cdp_url": remote},
    )
    assert out["results"][1]["value"] == "session=s3cr3t"
    assert out["results"][2]["file"]["mediaType"] == "image/png"


def test_a_token_is_sent_as_the_configured_header(runner: RunnerClient, pages: Pages, remote: str) -> None:
    out = runner.invoke(
        "browser",
        {"actions": [{"action": "goto", "url": f"{pages.url}/form"}]},
        config={"cdp_url": remote, "token_header": "x-bb-api-key"},
        context={"secrets": {"browser_token": "bb_live_123"}},
    )
    assert out["ok"] is True


def test_an_unreachable_or_malformed_endpoint_is_named(runner: RunnerClient) -> None:
    with pytest.raises(RetryableError, match="could not reach the remote browser"):
        runner.invoke(
            "browser", {"actions": [{"action": "goto", "url": "http://127.0.0.1/"}]},
            config={"cdp_url": "http://127.0.0.1:9", "connect_timeout_s": 5},
        )  # fmt: skip
    with pytest.raises(NonRetryableError, match="not a DevTools endpoint"):
        runner.invoke(
            "browser", {"actions": [{"action": "goto", "url": "http://127.0.0.1/"}]}, config={"cdp_url": "ftp://x"}
        )
