"""Dropbox's actions against a local stand-in of its documented API.

Reference: www.dropbox.com/developers/documentation/http/documentation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_connector_dropbox.plugin import plugin

from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import PluginConformance, call
from synthral_sdk.testing_rest import BearerAuth, Recorded, Reply, StandIn


class TestConformance(PluginConformance):
    dist = "synthral-connector-dropbox"


TOKEN = "sl.token"


@pytest.fixture
def dropbox() -> Iterator[StandIn]:
    api = StandIn(auth=BearerAuth(TOKEN), unauthorized={"error_summary": "invalid_access_token/..."})

    @api.route("POST", "/2/files/list_folder")
    def listing(request: Recorded) -> Reply:
        body = request.json
        assert isinstance(body, dict)
        if body["path"] == "/missing":
            return Reply(409, {"error_summary": "path/not_found/..", "error": {".tag": "path"}})
        return Reply(200, {"entries": [{".tag": "file", "name": "a.txt"}], "cursor": "AAE", "has_more": False})

    with api:
        yield api


def test_list_folder_returns_entries_and_the_cursor(dropbox: StandIn) -> None:
    out = call(
        plugin.action("list_folder"),
        {"body": {"path": ""}},
        config={"base_url": dropbox.url},
        secrets={"access_token": TOKEN},
    )
    assert out["data"]["cursor"] == "AAE" and out["data"]["entries"][0]["name"] == "a.txt"


def test_a_409_carries_dropboxs_error_summary(dropbox: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="path/not_found"):
        call(
            plugin.action("list_folder"),
            {"body": {"path": "/missing"}},
            config={"base_url": dropbox.url},
            secrets={"access_token": TOKEN},
        )
