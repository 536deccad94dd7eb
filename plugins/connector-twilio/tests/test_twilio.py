"""Twilio's actions against a local stand-in of its documented API (www.twilio.com/docs/usage/api)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_twilio.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BasicAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-twilio"


SECRETS = {"username": "AC123", "password": "authtok"}


@pytest.fixture
def twilio() -> Iterator[StandIn]:
    api = StandIn(
        auth=BasicAuth("AC123", "authtok"), unauthorized={"code": 20003, "message": "Authenticate", "status": 401}
    )

    @api.route("POST", "/2010-04-01/Accounts/{sid}/Messages.json")
    def send(request: Recorded) -> Reply:
        form = request.form
        if not form["To"].startswith("+"):
            return Reply(
                400,
                {"code": 21211, "message": f"The 'To' number {form['To']} is not a valid phone number.", "status": 400},
            )
        return Reply(201, {"sid": "SM1", "status": "queued", "to": form["To"], "body": form["Body"]})

    @api.route("GET", "/2010-04-01/Accounts/{sid}/Messages.json")
    def listing(request: Recorded) -> Reply:
        if request.arg("Page") == "1":
            return Reply(200, {"messages": [{"sid": "SM2"}], "next_page_uri": None})
        return Reply(
            200,
            {
                "messages": [{"sid": "SM1"}],
                "next_page_uri": f"/2010-04-01/Accounts/{request.params['sid']}/Messages.json?Page=1&PageSize=1",
            },
        )

    with api:
        yield api


def test_send_sms_posts_a_form_and_a_bad_number_is_named(twilio: StandIn) -> None:
    config = {"base_url": twilio.url + "/2010-04-01"}
    out = call(
        plugin.action("send_sms"),
        {"path": {"AccountSid": "AC123"}, "body": {"To": "+15558675310", "From": "+1501", "Body": "hi"}},
        config=config,
        secrets=SECRETS,
    )
    assert out["status"] == 201 and out["data"]["sid"] == "SM1"
    with pytest.raises(NonRetryableError, match="not a valid phone number"):
        call(
            plugin.action("send_sms"),
            {"path": {"AccountSid": "AC123"}, "body": {"To": "555", "Body": "x"}},
            config=config,
            secrets=SECRETS,
        )


def test_list_messages_follows_the_server_relative_next_page_uri(twilio: StandIn) -> None:
    out = call(
        plugin.action("list_messages"),
        {"path": {"AccountSid": "AC123"}},
        config={"base_url": twilio.url + "/2010-04-01", "max_pages": 3},
        secrets=SECRETS,
    )
    assert [m["sid"] for m in out["data"]] == ["SM1", "SM2"]
