"""GitLab's actions against a local stand-in of its documented API (docs.gitlab.com/api)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_gitlab.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import ApiKeyAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-gitlab"


TOKEN = "glpat-123"


@pytest.fixture
def gitlab() -> Iterator[StandIn]:
    api = StandIn(auth=ApiKeyAuth(TOKEN, header="PRIVATE-TOKEN"), unauthorized={"message": "401 Unauthorized"})

    @api.route("POST", "/api/v4/projects/{id}/issues")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(201, {"id": 84, "iid": 14, "project_id": request.params["id"], "title": body["title"]})

    with api:
        yield api


def test_create_issue_encodes_a_project_path_and_reads_a_self_managed_url_from_the_credential(gitlab: StandIn) -> None:
    secrets = {"api_key": TOKEN, "base_url": gitlab.url + "/api/v4"}
    out = call(plugin.action("create_issue"), {"path": {"id": "acme/api"}, "body": {"title": "500"}}, secrets=secrets)
    assert out["data"]["iid"] == 14
    assert gitlab.last().path == "/api/v4/projects/acme%2Fapi/issues"


def test_a_bad_token_is_refused(gitlab: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="401"):
        call(plugin.action("get_user"), {}, secrets={"api_key": "x", "base_url": gitlab.url + "/api/v4"})
