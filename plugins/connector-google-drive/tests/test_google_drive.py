"""Google Drive's actions and trigger against a local stand-in of its documented API.

Reference: developers.google.com/drive/api/reference/rest/v3.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_google_drive.plugin import plugin

from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-google-drive"


TOKEN = "ya29.drive"


@pytest.fixture
def drive() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN))

    @api.route("GET", "/drive/v3/files")
    def files(request: Recorded) -> Reply:
        if request.arg("pageToken") == "p2":
            return Reply(200, {"files": [{"id": "f3", "createdTime": "2026-01-03T00:00:00Z"}]})
        return Reply(
            200,
            {
                "files": [
                    {"id": "f1", "createdTime": "2026-01-01T00:00:00Z"},
                    {"id": "f2", "createdTime": "2026-01-02T00:00:00Z"},
                ],
                "nextPageToken": "p2",
            },
        )

    api.reply("DELETE", "/drive/v3/files/{fid}", None, status=204)
    with api:
        yield api


def test_list_files_follows_next_page_token_with_the_query(drive: StandIn) -> None:
    out = call(
        plugin.action("list_files"),
        {"query": {"q": "trashed = false"}},
        config={"base_url": drive.url, "max_pages": 5},
        secrets={"access_token": TOKEN},
    )
    assert [f["id"] for f in out["data"]] == ["f1", "f2", "f3"]
    assert drive.last().arg("q") == "trashed = false" and drive.last().arg("pageToken") == "p2"


def test_new_file_trigger_backfills_oldest_first(drive: StandIn) -> None:
    out = call(
        plugin.trigger("new_file"),
        {"state": None},
        config={"base_url": drive.url, "backfill": True},
        secrets={"access_token": TOKEN},
    )
    assert [e["id"] for e in out["events"]] == ["f1", "f2", "f3"]
