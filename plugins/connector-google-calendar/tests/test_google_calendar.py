"""Google Calendar's actions and trigger against a local stand-in of its documented API.

Reference: developers.google.com/calendar/api/v3/reference.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_google_calendar.plugin import plugin

from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-google-calendar"


TOKEN = "ya29.cal"


@pytest.fixture
def calendar() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN))

    @api.route("POST", "/calendar/v3/calendars/{cid}/events")
    def insert(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        return Reply(200, {"id": "e1", "status": "confirmed", "htmlLink": "https://calendar.google.com/e1", **body})

    @api.route("GET", "/calendar/v3/calendars/{cid}/events")
    def events(request: Recorded) -> Reply:
        since = request.arg("updatedMin") or ""
        items = [
            {"id": f"e{n}", "updated": f"2026-01-0{n}T00:00:00Z"} for n in (1, 2) if f"2026-01-0{n}T00:00:00Z" > since
        ]
        return Reply(200, {"items": items})

    with api:
        yield api


def test_insert_event_encodes_the_calendar_id(calendar: StandIn) -> None:
    body = {
        "summary": "Sync",
        "start": {"dateTime": "2026-02-01T10:00:00Z"},
        "end": {"dateTime": "2026-02-01T10:30:00Z"},
    }
    out = call(
        plugin.action("insert_event"),
        {"path": {"calendarId": "team@group.calendar.google.com"}, "body": body},
        config={"base_url": calendar.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["id"] == "e1"
    assert calendar.last().path == "/calendar/v3/calendars/team%40group.calendar.google.com/events"


def test_updated_event_trigger_asks_for_changes_since_its_cursor(calendar: StandIn) -> None:
    trigger = plugin.trigger("updated_event")
    config = {"base_url": calendar.url, "input": {"path": {"calendarId": "primary"}}}
    first = call(trigger, {"state": None}, config=config, secrets={"access_token": TOKEN})
    second = call(trigger, {"state": first["state"]}, config=config, secrets={"access_token": TOKEN})
    assert first["state"]["cursor"] == "2026-01-02T00:00:00Z" and second["events"] == []
    assert calendar.last().arg("updatedMin") == "2026-01-02T00:00:00Z"
