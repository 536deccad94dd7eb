"""Mailchimp's Marketing API actions against a local stand-in of its documented API.

Reference: mailchimp.com/developer/marketing/api.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_mailchimp.plugin import plugin

from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BasicAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-mailchimp"


SECRETS = {"username": "any", "password": "key-us21", "dc": "us21"}


@pytest.fixture
def mailchimp() -> Iterator[StandIn]:
    api = StandIn(auth=BasicAuth("any", "key-us21"), unauthorized={"title": "API Key Invalid", "status": 401})

    @api.route("GET", "/3.0/lists/{list_id}/members")
    def members(request: Recorded) -> Reply:
        offset = int(request.arg("offset") or 0)
        rows = [{"id": str(n)} for n in range(offset, min(offset + 2, 3))]
        return Reply(200, {"members": rows, "total_items": 3})

    api.reply(
        "POST",
        "/3.0/lists/{list_id}/members",
        {"title": "Member Exists", "status": 400, "detail": "ada@example.com is already a list member."},
        status=400,
    )
    with api:
        yield api


def test_list_members_pages_by_offset(mailchimp: StandIn) -> None:
    out = call(
        plugin.action("list_members"),
        {"path": {"list_id": "L"}, "query": {"count": 2}},
        config={"base_url": mailchimp.url + "/3.0", "max_pages": 5},
        secrets=SECRETS,
    )
    assert [m["id"] for m in out["data"]] == ["0", "1", "2"]
    assert [r.arg("offset") for r in mailchimp.requests] == [None, "2", "3"]


def test_without_a_data_center_the_call_says_which_field_is_missing() -> None:
    with pytest.raises(ConfigurationError, match=r"https://\{dc\}.api.mailchimp.com/3.0.*still has a placeholder"):
        call(plugin.action("ping"), {}, secrets={"username": "any", "password": "key"})


def test_an_existing_member_is_reported_with_mailchimps_detail(mailchimp: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="already a list member"):
        call(
            plugin.action("add_list_member"),
            {"path": {"list_id": "L"}, "body": {"email_address": "ada@example.com", "status": "subscribed"}},
            config={"base_url": mailchimp.url + "/3.0"},
            secrets=SECRETS,
        )
