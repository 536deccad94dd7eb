"""Asana's actions against a local stand-in of its documented API (developers.asana.com/reference)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_asana.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-asana"


TOKEN = "1/asana"


@pytest.fixture
def asana() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"errors": [{"message": "Not Authorized"}]})

    @api.route("POST", "/tasks")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(201, {"data": {"gid": "12", **body["data"]}})  # type: ignore[dict-item]

    @api.route("GET", "/projects/{gid}/tasks")
    def tasks(request: Recorded) -> Reply:
        if request.arg("offset") == "eyJ0":
            return Reply(200, {"data": [{"gid": "2"}], "next_page": None})
        return Reply(200, {"data": [{"gid": "1"}], "next_page": {"offset": "eyJ0", "path": "/x", "uri": "https://x"}})

    with api:
        yield api


def test_create_task_wraps_fields_in_data_and_unwraps_the_answer(asana: StandIn) -> None:
    out = call(
        plugin.action("create_task"),
        {"body": {"data": {"name": "Review"}}},
        config={"base_url": asana.url},
        secrets={"access_token": TOKEN},
    )
    assert out["status"] == 201 and out["data"] == {"gid": "12", "name": "Review"}


def test_project_tasks_follow_next_page_offset(asana: StandIn) -> None:
    out = call(
        plugin.action("list_project_tasks"),
        {"path": {"project_gid": "9"}},
        config={"base_url": asana.url, "max_pages": 4},
        secrets={"access_token": TOKEN},
    )
    assert [t["gid"] for t in out["data"]] == ["1", "2"]
    with pytest.raises(NonRetryableError, match="Not Authorized"):
        call(plugin.action("get_me"), {}, config={"base_url": asana.url}, secrets={"access_token": "x"})
