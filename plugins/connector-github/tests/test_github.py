"""GitHub's actions and trigger against a local stand-in of its REST API (docs.github.com/rest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_github.plugin import plugin

from synthral_sdk.errors import InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn

TOKEN = "gho_test_token"
SECRETS = {"access_token": TOKEN}
ISSUES = [
    {"node_id": f"I_{n}", "number": n, "title": f"issue {n}", "updated_at": f"2026-01-0{n}T00:00:00Z"}
    for n in (1, 2, 3)
]


class TestConformance(PluginConformance):
    dist = "synthral-connector-github"


@pytest.fixture
def github() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"message": "Bad credentials"})

    @api.route("GET", "/user")
    def user(request: Recorded) -> Reply:
        return Reply(200, {"login": "octocat", "id": 1})

    @api.route("POST", "/repos/{owner}/{repo}/issues")
    def create(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        repo = f"{request.params['owner']}/{request.params['repo']}"
        return Reply(201, {"number": 7, "title": body["title"], "html_url": f"https://github.com/{repo}/issues/7"})

    @api.route("GET", "/repos/{owner}/{repo}/issues")
    def issues(request: Recorded) -> Reply:
        since = request.arg("since")
        found = [i for i in ISSUES if since is None or str(i["updated_at"]) > since]
        page = int(request.arg("page") or 1)
        chunk = found[(page - 1) * 2 : page * 2]
        headers = {}
        if page * 2 < len(found):
            headers["Link"] = f'<{api.url}{request.path}?page={page + 1}>; rel="next"'
        return Reply(200, chunk, headers)

    @api.route("GET", "/repos/{owner}/{repo}")
    def repo(request: Recorded) -> Reply:
        if request.params["repo"] == "busy":
            return Reply(503, {"message": "unavailable"}, {"Retry-After": "7"})
        return Reply(404, {"message": "Not Found"})

    with api:
        yield api


def test_create_issue_posts_the_body_with_the_token_and_returns_the_issue(github: StandIn) -> None:
    out = call(
        plugin.action("create_issue"),
        {"path": {"owner": "octo", "repo": "hello"}, "body": {"title": "Found a bug", "labels": ["bug"]}},
        config={"base_url": github.url},
        secrets=SECRETS,
        idempotency_key="exec/node/0",
    )
    assert out["status"] == 201
    assert out["data"] == {"number": 7, "title": "Found a bug", "html_url": "https://github.com/octo/hello/issues/7"}
    sent = github.requests[-1]
    assert sent.json == {"title": "Found a bug", "labels": ["bug"]}
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["idempotency-key"] == "exec/node/0"


def test_list_issues_follows_link_headers_up_to_max_pages(github: StandIn) -> None:
    action = plugin.action("list_issues")
    payload = {"path": {"owner": "octo", "repo": "hello"}}
    one = call(action, payload, config={"base_url": github.url}, secrets=SECRETS)
    both = call(action, payload, config={"base_url": github.url, "max_pages": 5}, secrets=SECRETS)
    assert [i["number"] for i in one["data"]] == [1, 2]
    assert one["next"] is not None
    assert [i["number"] for i in both["data"]] == [1, 2, 3]
    assert both["next"] is None


def test_a_missing_required_field_is_named_before_any_request(github: StandIn) -> None:
    with pytest.raises(InputInvalid, match=r"'body.title' is required"):
        call(plugin.action("create_issue"), {"path": {"owner": "o", "repo": "r"}, "body": {}}, secrets=SECRETS)
    assert github.requests == []


def test_a_wrong_token_is_a_non_retryable_error_that_says_to_reconnect(github: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="reconnect the connector"):
        call(
            plugin.action("get_authenticated_user"), {}, config={"base_url": github.url}, secrets={"access_token": "x"}
        )


def test_a_503_is_retryable_with_the_servers_retry_after(github: StandIn) -> None:
    with pytest.raises(RetryableError) as caught:
        call(
            plugin.action("get_repository"),
            {"path": {"owner": "o", "repo": "busy"}},
            config={"base_url": github.url},
            secrets=SECRETS,
        )
    assert caught.value.details["retry_after"] == 7


def test_connection_test_reports_a_good_and_a_bad_token(github: StandIn) -> None:
    good = call(plugin.connector, {}, operation="test_connection", config={"base_url": github.url}, secrets=SECRETS)
    bad = call(
        plugin.connector,
        {},
        operation="test_connection",
        config={"base_url": github.url},
        secrets={"access_token": "x"},
    )
    assert good["ok"] is True
    assert bad["ok"] is False
    assert "401" in bad["message"]


def test_new_issue_trigger_sets_a_baseline_then_emits_only_new_issues_once(github: StandIn) -> None:
    trigger = plugin.trigger("new_issue")
    config = {"base_url": github.url, "input": {"path": {"owner": "octo", "repo": "hello"}}}
    first = call(trigger, {"state": None}, config=config, secrets=SECRETS)
    assert first["events"] == []
    assert first["state"]["cursor"] == "2026-01-03T00:00:00Z"
    ISSUES.append({"node_id": "I_4", "number": 4, "title": "issue 4", "updated_at": "2026-01-04T00:00:00Z"})
    try:
        second = call(trigger, {"state": first["state"]}, config=config, secrets=SECRETS)
        third = call(trigger, {"state": second["state"]}, config=config, secrets=SECRETS)
    finally:
        ISSUES.pop()
    assert [e["number"] for e in second["events"]] == [4]
    assert third["events"] == []
    assert github.requests[-1].arg("since") == "2026-01-04T00:00:00Z"
