"""Jira Cloud's actions against a local stand-in of its documented API.

Reference: developer.atlassian.com/cloud/jira/platform/rest/v3.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_jira.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BasicAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-jira"


SECRETS = {"username": "ada@acme.test", "password": "tok", "site": "acme"}


@pytest.fixture
def jira() -> Iterator[StandIn]:
    api = StandIn(
        auth=BasicAuth("ada@acme.test", "tok"),
        unauthorized={"errorMessages": ["Client must be authenticated to access this resource."]},
    )

    @api.route("POST", "/rest/api/3/issue")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        fields = body["fields"]
        assert isinstance(fields, dict)
        if fields["issuetype"] == {"name": "Nope"}:
            return Reply(400, {"errorMessages": [], "errors": {"issuetype": "Specify a valid issue type"}})
        return Reply(201, {"id": "10000", "key": "OPS-1", "self": "https://acme.atlassian.net/rest/api/3/issue/10000"})

    @api.route("GET", "/rest/api/3/search/jql")
    def search(request: Recorded) -> Reply:
        if request.arg("nextPageToken") == "n2":
            return Reply(200, {"issues": [{"id": "2", "key": "OPS-2"}], "isLast": True})
        return Reply(200, {"issues": [{"id": "1", "key": "OPS-1"}], "nextPageToken": "n2", "isLast": False})

    with api:
        yield api


def test_create_issue_with_basic_auth_and_a_bad_type_named(jira: StandIn) -> None:
    fields = {"project": {"key": "OPS"}, "summary": "x", "issuetype": {"name": "Task"}}
    out = call(
        plugin.action("create_issue"), {"body": {"fields": fields}}, config={"base_url": jira.url}, secrets=SECRETS
    )
    assert out["data"]["key"] == "OPS-1"
    with pytest.raises(NonRetryableError, match="Specify a valid issue type"):
        call(
            plugin.action("create_issue"),
            {"body": {"fields": {**fields, "issuetype": {"name": "Nope"}}}},
            config={"base_url": jira.url},
            secrets=SECRETS,
        )


def test_search_follows_next_page_token(jira: StandIn) -> None:
    out = call(
        plugin.action("search_issues"),
        {"query": {"jql": "project = OPS"}},
        config={"base_url": jira.url, "max_pages": 5},
        secrets=SECRETS,
    )
    assert [i["key"] for i in out["data"]] == ["OPS-1", "OPS-2"] and jira.last().arg("jql") == "project = OPS"
