"""Product events and flags through the official SDK against a PostHog stand-in, via the runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import API_KEY, PostHog
from synthral_obs_posthog import pseudonym

from synthral_sdk.errors import ConfigInvalid, RetryableError
from synthral_sdk.testing import RunnerClient

SECRETS = {"secrets": {"api_key": API_KEY}}
EVENT = {
    "event": "workflow_run_finished",
    "distinct_id": "ada@example.com",
    "properties": {"status": "completed", "nodes": 4, "email": "ada@example.com", "$ip": "203.0.113.7",
                   "name": "Ada Lovelace", "note": "sent by ada@example.com"},
    "groups": {"workspace": "ws-1"},
}  # fmt: skip


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient("synthral-obs-posthog") as client:
        yield client


def test_by_default_ids_are_pseudonymous_and_personal_properties_dropped(
    runner: RunnerClient, posthog: PostHog
) -> None:
    assert runner.invoke("capture", {"events": [EVENT]}, config={"host": posthog.url}, context=SECRETS) == {"sent": 1}
    (event,) = posthog.wait(1)
    assert event["event"] == "workflow_run_finished"
    assert event["distinct_id"] == pseudonym("ada@example.com", API_KEY) != "ada@example.com"
    properties = event["properties"]
    assert properties["status"] == "completed" and properties["nodes"] == 4
    assert {"email", "$ip", "name"}.isdisjoint(properties)
    assert properties["note"] == "sent by [email]"
    assert properties["$process_person_profile"] is False and properties["$geoip_disable"] is True
    assert properties["$groups"] == {"workspace": "ws-1"}
    assert b"ada@example.com" not in b"".join(posthog.raw)
    assert b"Ada Lovelace" not in b"".join(posthog.raw)


def test_personal_data_goes_only_when_the_operator_opts_in(runner: RunnerClient, posthog: PostHog) -> None:
    runner.invoke("capture", {"events": [EVENT]}, config={"host": posthog.url, "personal_data": True}, context=SECRETS)
    (event,) = posthog.wait(1)
    assert event["distinct_id"] == "ada@example.com"
    assert event["properties"]["email"] == "ada@example.com"
    assert "$process_person_profile" not in event["properties"]


def test_feature_flags_are_asked_for_the_pseudonym(runner: RunnerClient, posthog: PostHog) -> None:
    output = runner.invoke(
        "flags", {"distinct_id": "ada@example.com", "person_properties": {"email": "ada@example.com", "plan": "pro"}},
        config={"host": posthog.url}, context=SECRETS,
    )  # fmt: skip
    assert output == {"flags": {"new-editor": True, "pricing-test": "variant-b", "beta": False}}
    (request,) = posthog.flag_requests
    assert request["distinct_id"] == pseudonym("ada@example.com", API_KEY)
    assert request["person_properties"].get("plan") == "pro" and "email" not in request["person_properties"]
    only = runner.invoke("flags", {"distinct_id": "u1", "flags": ["beta"]}, config={"host": posthog.url},
                         context=SECRETS)  # fmt: skip
    assert only == {"flags": {"beta": False}}


def test_a_missing_key_is_named_with_the_fix(runner: RunnerClient) -> None:
    with pytest.raises(ConfigInvalid, match=r"'api_key'.*phc_"):
        runner.invoke("capture", {"events": [EVENT]})
    with pytest.raises(ConfigInvalid, match="'api_key'"):
        runner.invoke("flags", {"distinct_id": "u1"})


def test_a_refused_or_unreachable_posthog_is_a_retryable_failure(runner: RunnerClient, posthog: PostHog) -> None:
    with pytest.raises(RetryableError, match="did not take the events"):
        runner.invoke("capture", {"events": [EVENT]}, config={"host": posthog.url},
                      context={"secrets": {"api_key": "phc_wrong"}})  # fmt: skip
    with pytest.raises(RetryableError, match="did not answer the flags"):
        runner.invoke("flags", {"distinct_id": "u1"}, config={"host": "http://127.0.0.1:9"}, context=SECRETS)
    assert posthog.events == []
