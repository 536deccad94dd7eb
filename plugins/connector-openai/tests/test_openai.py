"""OpenAI's files and assistants actions against a local stand-in of its documented API.

Reference: platform.openai.com/docs/api-reference.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_openai.plugin import plugin

from synthral_sdk.errors import RetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-openai"


KEY = "sk-test"


@pytest.fixture
def openai() -> Iterator[StandIn]:
    api = StandIn(
        auth=BearerAuth(KEY),
        unauthorized={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}},
    )

    @api.route("POST", "/v1/assistants")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"id": "asst_1", "object": "assistant", "model": body["model"], "name": body.get("name")})

    @api.route("GET", "/v1/files")
    def files(request: Recorded) -> Reply:
        if request.arg("after") == "file-2":
            return Reply(
                200,
                {
                    "object": "list",
                    "data": [{"id": "file-3"}],
                    "first_id": "file-3",
                    "last_id": "file-3",
                    "has_more": False,
                },
            )
        return Reply(
            200, {"object": "list", "data": [{"id": "file-1"}, {"id": "file-2"}], "last_id": "file-2", "has_more": True}
        )

    api.reply(
        "POST",
        "/v1/threads/runs",
        {"error": {"message": "Rate limit reached"}},
        status=429,
        headers={"retry-after": "20"},
    )
    with api:
        yield api


def test_create_assistant_sends_the_assistants_beta_header(openai: StandIn) -> None:
    out = call(
        plugin.action("create_assistant"),
        {"body": {"model": "gpt-4o", "name": "Helper"}},
        config={"base_url": openai.url},
        secrets={"api_key": KEY},
    )
    assert out["data"]["id"] == "asst_1" and openai.last().headers["openai-beta"] == "assistants=v2"


def test_list_files_pages_after_the_last_id(openai: StandIn) -> None:
    out = call(
        plugin.action("list_files"), {}, config={"base_url": openai.url, "max_pages": 4}, secrets={"api_key": KEY}
    )
    assert [f["id"] for f in out["data"]] == ["file-1", "file-2", "file-3"]


def test_a_rate_limit_is_retryable_after_the_servers_delay(openai: StandIn) -> None:
    with pytest.raises(RetryableError) as caught:
        call(
            plugin.action("create_thread_and_run"),
            {"body": {"assistant_id": "asst_1"}},
            config={"base_url": openai.url},
            secrets={"api_key": KEY},
        )
    assert caught.value.details["retry_after"] == 20
