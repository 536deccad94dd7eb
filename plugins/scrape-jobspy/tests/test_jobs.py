"""Job search through the plugin's process against a local stand-in of LinkedIn's guest search."""

from __future__ import annotations

import pytest
from conftest import Board

from synthral_sdk.errors import ConfigInvalid, InputInvalid
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient

LOCAL = {"network": NetworkPolicy.local().to_wire()}  # the test site is on this machine


def test_postings_come_back_as_records_and_stream_as_events(runner: RunnerClient, board: type[Board]) -> None:
    payload = {"sites": ["linkedin"], "search_term": "python", "location": "San Francisco", "results_wanted": 5}
    config = {"base_urls": {"linkedin": board.url}}
    request_id = runner.send_request(
        "invoke", {"capability": "jobs", "operation": "run", "config": config, "input": payload, "context": LOCAL}
    )
    answer = runner.wait(request_id, timeout=120)

    assert isinstance(answer, dict)
    jobs = answer["output"]["jobs"]
    assert answer["output"]["count"] == 5
    assert sorted(job["title"] for job in jobs) == [f"Python Engineer {n}" for n in range(5)]  # jobspy sorts by date
    first = next(job for job in jobs if job["title"] == "Python Engineer 0")
    assert first["company"] == "acme0" and first["job_url"] == f"{board.url}/jobs/view/4000"
    assert first["location"].startswith("Oakland") and first["date_posted"] == "2026-12-01"
    assert board.queries[-1]["keywords"] == ["python"] and board.queries[-1]["location"] == ["San Francisco"]
    assert len(runner.events(request_id)) == 5


def test_bad_boards_and_mirrors_are_named(runner: RunnerClient) -> None:
    with pytest.raises(InputInvalid, match="sites"):
        runner.invoke("jobs", {"sites": ["monster"], "search_term": "x"})
    with pytest.raises(ConfigInvalid, match="only linkedin, indeed can"):
        runner.invoke("jobs", {"search_term": "x"}, config={"base_urls": {"glassdoor": "http://127.0.0.1/"}})
