"""SendGrid's actions against a local stand-in of its documented API (www.twilio.com/docs/sendgrid/api-reference)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_sendgrid.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-sendgrid"


KEY = "SG.key"


@pytest.fixture
def sendgrid() -> Iterator[StandIn]:
    api = StandIn(
        auth=BearerAuth(KEY),
        unauthorized={"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked"}]},
    )

    @api.route("POST", "/v3/mail/send")
    def send(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        if not body.get("subject") and not body.get("template_id"):
            return Reply(400, {"errors": [{"message": "The subject is required.", "field": "subject"}]})
        return Reply(202, headers={"X-Message-Id": "abc"})

    with api:
        yield api


MAIL = {
    "personalizations": [{"to": [{"email": "ada@example.com"}]}],
    "from": {"email": "ops@acme.test"},
    "content": [{"type": "text/plain", "value": "Hi"}],
}


def test_send_mail_answers_202_with_no_body(sendgrid: StandIn) -> None:
    out = call(
        plugin.action("send_mail"),
        {"body": {**MAIL, "subject": "Hello"}},
        config={"base_url": sendgrid.url},
        secrets={"api_key": KEY},
    )
    assert out == {"status": 202, "data": None, "next": None}


def test_a_400_carries_sendgrids_field_message(sendgrid: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="The subject is required"):
        call(plugin.action("send_mail"), {"body": MAIL}, config={"base_url": sendgrid.url}, secrets={"api_key": KEY})
