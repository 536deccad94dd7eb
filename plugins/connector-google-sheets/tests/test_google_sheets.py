"""Google Sheets' actions against a local stand-in of its documented API.

Reference: developers.google.com/sheets/api/reference/rest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_google_sheets.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-google-sheets"


TOKEN = "ya29.sheets"


@pytest.fixture
def sheets() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN))

    @api.route("POST", "/v4/spreadsheets/{sid}/values/{rng}")
    def append(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        rows = body["values"]
        assert isinstance(rows, list)
        return Reply(
            200,
            {
                "spreadsheetId": request.params["sid"],
                "updates": {"updatedRange": "Sheet1!A2:B2", "updatedRows": len(rows)},
            },
        )

    api.reply(
        "GET",
        "/v4/spreadsheets/{sid}/values/{rng}",
        {"error": {"code": 400, "message": "Unable to parse range: Nope!A1", "status": "INVALID_ARGUMENT"}},
        status=400,
    )
    with api:
        yield api


def test_append_values_encodes_the_range_and_sends_rows(sheets: StandIn) -> None:
    out = call(
        plugin.action("append_values"),
        {
            "path": {"spreadsheetId": "1AbC", "range": "Sheet1!A1"},
            "query": {"valueInputOption": "USER_ENTERED"},
            "body": {"values": [["a", 1]]},
        },
        config={"base_url": sheets.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["updates"]["updatedRows"] == 1
    assert sheets.last().path == "/v4/spreadsheets/1AbC/values/Sheet1%21A1:append"
    assert sheets.last().arg("valueInputOption") == "USER_ENTERED"


def test_a_bad_range_reports_googles_message(sheets: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="Unable to parse range"):
        call(
            plugin.action("get_values"),
            {"path": {"spreadsheetId": "1", "range": "Nope!A1"}},
            config={"base_url": sheets.url},
            secrets={"access_token": TOKEN},
        )
