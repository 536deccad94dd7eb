"""Linear's GraphQL actions against a local stand-in of its documented API (developers.linear.app)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_linear.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import ApiKeyAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-linear"


KEY = "lin_api_123"


@pytest.fixture
def linear() -> Iterator[StandIn]:
    api = StandIn(auth=ApiKeyAuth(KEY, header="Authorization"))

    @api.route("POST", "/graphql")
    def graphql(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        query, variables = str(body["query"]), body["variables"]
        assert isinstance(variables, dict)
        if query.startswith("mutation IssueCreate"):
            data = variables["input"]
            assert isinstance(data, dict)
            if data["teamId"] == "nope":
                return Reply(200, {"errors": [{"message": "Entity not found: Team"}], "data": None})
            return Reply(
                200, {"data": {"issueCreate": {"success": True, "issue": {"id": "i1", "title": data["title"]}}}}
            )
        after = variables.get("after")
        nodes, info = (
            ([{"id": "a"}], {"hasNextPage": True, "endCursor": "c1"})
            if after is None
            else ([{"id": "b"}], {"hasNextPage": False, "endCursor": "c2"})
        )
        return Reply(200, {"data": {"issues": {"nodes": nodes, "pageInfo": info}}})

    with api:
        yield api


def test_create_issue_sends_the_mutation_with_variables(linear: StandIn) -> None:
    out = call(
        plugin.action("create_issue"),
        {"body": {"input": {"teamId": "T", "title": "Crash"}}},
        config={"base_url": linear.url},
        secrets={"api_key": KEY},
    )
    assert out["data"] == {"id": "i1", "title": "Crash"}
    assert linear.last().json["variables"] == {"input": {"teamId": "T", "title": "Crash"}}  # type: ignore[index]


def test_graphql_errors_in_a_200_fail_the_call(linear: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="Entity not found: Team"):
        call(
            plugin.action("create_issue"),
            {"body": {"input": {"teamId": "nope", "title": "x"}}},
            config={"base_url": linear.url},
            secrets={"api_key": KEY},
        )


def test_issues_follow_page_info_until_has_next_page_is_false(linear: StandIn) -> None:
    out = call(
        plugin.action("issues"),
        {"body": {"first": 1}},
        config={"base_url": linear.url, "max_pages": 5},
        secrets={"api_key": KEY},
    )
    assert [n["id"] for n in out["data"]] == ["a", "b"] and out["next"] is None
