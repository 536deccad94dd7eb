"""Reading, writing and deleting secrets in process, against the stand-in Infisical."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import CLIENT_ID, CLIENT_SECRET, READER_ID, READER_SECRET, StandIn
from synthral_secrets_infisical import InfisicalStore

from synthral_sdk.errors import ConfigInvalid, InputInvalid
from synthral_sdk.testing import call
from synthral_sdk.types import JSONObject

GRANTED = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def get(
    store: InfisicalStore, infisical: StandIn, name: str, *, scope: str = "default", **config: object
) -> JSONObject:
    """Read ``name`` with the store's config pointing at the stand-in, plus ``config``."""
    request = {"name": name, "scope": scope}
    return call(store, request, operation="get_secret", config=infisical.config(**config), secrets=GRANTED)


def test_reads_a_secret_entered_in_infisical(infisical: StandIn) -> None:
    infisical.state.put("OPENAI_KEY", "sk-live-123")

    output = get(InfisicalStore(), infisical, "OPENAI_KEY")

    assert output == {"name": "OPENAI_KEY", "value": "sk-live-123", "version": "1"}


def test_a_missing_secret_reads_as_null(infisical: StandIn) -> None:
    output = get(InfisicalStore(), infisical, "NOT_THERE")

    assert output == {"name": "NOT_THERE", "value": None, "version": None}


def test_put_creates_then_updates_with_new_versions(infisical: StandIn) -> None:
    store = InfisicalStore()
    config = infisical.config()

    created = call(store, {"name": "TOKEN", "value": "one"}, operation="put_secret", config=config, secrets=GRANTED)
    updated = call(store, {"name": "TOKEN", "value": "two"}, operation="put_secret", config=config, secrets=GRANTED)

    assert created == {"name": "TOKEN", "version": "1"}
    assert updated == {"name": "TOKEN", "version": "2"}
    assert infisical.state.value("TOKEN") == "two"
    assert get(store, infisical, "TOKEN")["value"] == "two"


def test_delete_says_whether_the_secret_existed(infisical: StandIn) -> None:
    infisical.state.put("OLD", "x")
    store = InfisicalStore()
    config = infisical.config()

    first = call(store, {"name": "OLD"}, operation="delete_secret", config=config, secrets=GRANTED)
    second = call(store, {"name": "OLD"}, operation="delete_secret", config=config, secrets=GRANTED)

    assert first == {"name": "OLD", "existed": True}
    assert second == {"name": "OLD", "existed": False}
    assert infisical.state.value("OLD") is None


def test_secret_path_selects_the_folder(infisical: StandIn) -> None:
    infisical.state.put("KEY", "at-root")
    infisical.state.put("KEY", "in-apps", path="/apps/synthral")

    output = get(InfisicalStore(), infisical, "KEY", secret_path="/apps/synthral/")

    assert output["value"] == "in-apps"


def test_folder_per_scope_reads_the_scope_subfolder(infisical: StandIn) -> None:
    infisical.state.put("KEY", "shared", path="/synthral")
    infisical.state.put("KEY", "workspace-a", path="/synthral/ws-a")
    store = InfisicalStore()

    scoped = get(store, infisical, "KEY", secret_path="/synthral", folder_per_scope=True, scope="ws-a")
    default = get(store, infisical, "KEY", secret_path="/synthral", folder_per_scope=True)
    shared = get(store, infisical, "KEY", secret_path="/synthral", scope="ws-a")

    assert scoped["value"] == "workspace-a"
    assert default["value"] == "shared"
    assert shared["value"] == "shared"  # folder_per_scope is off: every scope shares secret_path


def test_the_access_token_is_reused_until_infisical_refuses_it(infisical: StandIn) -> None:
    infisical.state.put("A", "1")
    store = InfisicalStore()

    get(store, infisical, "A")
    get(store, infisical, "A")
    assert infisical.state.logins == 1

    infisical.state.revoke_tokens()
    assert get(store, infisical, "A")["value"] == "1"
    assert infisical.state.logins == 2


def test_calls_arriving_together_log_in_once(infisical: StandIn) -> None:
    infisical.state.put("A", "1")
    infisical.state.stall = 0.2  # keep the first login in flight while the others arrive
    store = InfisicalStore()

    with ThreadPoolExecutor(4) as pool:
        values = list(pool.map(lambda _: get(store, infisical, "A")["value"], range(4)))

    assert values == ["1"] * 4
    assert infisical.state.logins == 1


def test_each_identity_logs_in_for_itself(infisical: StandIn) -> None:
    infisical.state.put("A", "1")
    store = InfisicalStore()

    get(store, infisical, "A")
    reader = call(
        store, {"name": "A"}, operation="get_secret", config=infisical.config(),
        secrets={"client_id": READER_ID, "client_secret": READER_SECRET},
    )  # fmt: skip

    assert reader["value"] == "1"
    assert infisical.state.logins == 2


def test_one_log_line_per_call_without_the_value(infisical: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    infisical.state.put("API_KEY", "v4lue-n0t-for-logs")

    with caplog.at_level(logging.INFO, logger="synthral.plugin"):
        get(InfisicalStore(), infisical, "API_KEY")

    lines = [record.getMessage() for record in caplog.records if record.name == "synthral.plugin"]
    assert len(lines) == 1
    assert lines[0].startswith("get API_KEY in prod:/ → version 1 in ")
    assert "v4lue-n0t-for-logs" not in caplog.text


# -- bad input and config ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a/b", "../x", "has space", "x?y=1", "k" * 257])
def test_names_infisical_cannot_take_are_refused(infisical: StandIn, name: str) -> None:
    with pytest.raises(InputInvalid, match="cannot be an Infisical key") as caught:
        get(InfisicalStore(), infisical, name)

    assert caught.value.details["field"] == "name"
    assert infisical.state.requests == []


def test_a_scope_that_cannot_be_a_folder_is_refused(infisical: StandIn) -> None:
    with pytest.raises(InputInvalid, match="cannot name a folder"):
        get(InfisicalStore(), infisical, "KEY", folder_per_scope=True, scope="../other")


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"site_url": "ftp://infisical.example"}, "not an http:// or https:// URL"),
        ({"site_url": "https://ada:pw@infisical.example"}, "user name"),
        ({"secret_path": "synthral"}, "does not start with '/'"),
        ({"secret_path": "/a/../b"}, "contains '.' or '..'"),
        ({"environment": "pro d"}, "environment"),
        ({"project_id": ""}, "project_id"),
        ({"timeout": 0}, "timeout"),
        ({"client_secret": CLIENT_SECRET}, "client_secret"),
    ],
)
def test_bad_config_names_the_field(infisical: StandIn, override: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigInvalid, match=problem) as caught:
        get(InfisicalStore(), infisical, "KEY", **override)

    assert CLIENT_SECRET not in caught.value.message


def test_config_without_project_or_environment_is_refused(infisical: StandIn) -> None:
    with pytest.raises(ConfigInvalid, match="project_id") as caught:
        call(InfisicalStore(), {"name": "KEY"}, operation="get_secret", config={"site_url": infisical.url})

    assert "environment" in caught.value.message


@pytest.mark.parametrize("granted", [{}, {"client_id": CLIENT_ID}, {"client_secret": CLIENT_SECRET}])
def test_missing_identity_secrets_say_what_to_grant(infisical: StandIn, granted: dict[str, str]) -> None:
    with pytest.raises(ConfigInvalid, match="grant the store the Universal Auth client id and client secret") as caught:
        call(InfisicalStore(), {"name": "KEY"}, operation="get_secret", config=infisical.config(), secrets=granted)

    assert caught.value.details["missing"] == [n for n in ("client_id", "client_secret") if n not in granted]
    assert infisical.state.requests == []
