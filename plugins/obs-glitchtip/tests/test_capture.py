"""Errors reach a GlitchTip stand-in as Sentry envelopes sent by the official SDK, through the runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import PUBLIC_KEY, GlitchTip

from synthral_sdk.errors import ConfigInvalid
from synthral_sdk.testing import RunnerClient

FAILED_RUN = {
    "exception": {"type": "PluginError", "value": "node 'fetch' failed after 3 attempt(s): 503 from upstream"},
    "execution_id": "exec-42",
    "workflow": "invoices",
    "node_id": "fetch",
    "tags": {"team": "billing"},
    "extra": {"attempts": 3},
}


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient("synthral-obs-glitchtip") as client:
        yield client


def test_a_failed_run_becomes_one_event_with_its_tags(runner: RunnerClient, glitchtip: GlitchTip) -> None:
    output = runner.invoke(
        "capture",
        FAILED_RUN,
        config={"environment": "prod", "release": "1.2.3"},
        context={"secrets": {"dsn": glitchtip.dsn}},
    )
    (event,) = glitchtip.wait(1)
    assert event["event_id"] == output["event_id"]
    assert event["exception"]["values"][0]["type"] == "PluginError"
    assert event["tags"]["synthral.execution_id"] == "exec-42" and event["tags"]["team"] == "billing"
    assert (event["environment"], event["release"], event["level"]) == ("prod", "1.2.3", "error")
    assert event["extra"] == {"attempts": 3}
    assert "user" not in event  # no personal data of its own
    assert f"sentry_key={PUBLIC_KEY}" in glitchtip.auth[0]


def test_a_message_is_reported_at_its_level(runner: RunnerClient, glitchtip: GlitchTip) -> None:
    runner.invoke(
        "capture", {"message": "queue is backing up", "level": "warning"}, context={"secrets": {"dsn": glitchtip.dsn}}
    )
    (event,) = glitchtip.wait(1)
    assert (event["message"], event["level"]) == ("queue is backing up", "warning")


def test_a_missing_or_malformed_dsn_is_named_with_the_fix(runner: RunnerClient) -> None:
    with pytest.raises(ConfigInvalid) as missing:
        runner.invoke("capture", FAILED_RUN)
    assert "'dsn'" in str(missing.value) and "Client keys" in str(missing.value)
    with pytest.raises(ConfigInvalid) as malformed:
        runner.invoke("capture", FAILED_RUN, context={"secrets": {"dsn": "not a dsn"}})
    assert "https://KEY@" in str(malformed.value)
    assert "not a dsn" not in str(malformed.value).replace("is not a DSN", "")


def test_nothing_to_report_is_refused(runner: RunnerClient, glitchtip: GlitchTip) -> None:
    with pytest.raises(ConfigInvalid, match="message or an exception"):
        runner.invoke("capture", {"level": "error"}, context={"secrets": {"dsn": glitchtip.dsn}})
