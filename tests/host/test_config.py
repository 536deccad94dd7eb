"""The settings tree: read once from the environment, every variable documented in one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthral.config import Settings, variables
from synthral.errors import ConfigurationError
from tests.support.settings import REPO

DOCS = REPO / "docs"
PROTOCOL_VARIABLES = {"SYNTHRAL_BLOB_ROOT", "SYNTHRAL_PLUGIN_DATA", "SYNTHRAL_PLUGIN"}
"""Set by the host for a plugin process (docs/plugin-protocol.md), not read by the host."""
BUILD_VARIABLES = {"SYNTHRAL_REQUIRE_WEB", "SYNTHRAL_API"}
"""Read by the wheel build (scripts/hatch_web.py) and the web app's dev server, not by a running host."""
OUTSIDE_VARIABLES = {
    "SYNTHRAL_PLUGIN_JOBS",
    "SYNTHRAL_TEST_WORKERS",
    "SYNTHRAL_CHROMIUM",
    "SYNTHRAL_BENCH_RAG_CHUNKS",
    "SYNTHRAL_BENCH_RAG_STORES",
    "SYNTHRAL_BENCH_RAG_QA",
}
"""Read by scripts/test.sh (plugin suites, host test workers), browser plugins and bench/, not by the host."""


def test_every_variable_is_in_the_one_table_with_its_default() -> None:
    text = (DOCS / "configuration.md").read_text()
    rows = re.findall(r"^\| `([A-Z_<>]+)` \| `([a-z_.]+)` \| ([^|]*) \|", text, flags=re.MULTILINE)
    documented = {name: (setting, default.strip().strip("`")) for name, setting, default in rows}
    declared = {v.name: (v.setting, v.default) for v in variables()}
    assert documented == declared


def test_no_page_mentions_a_variable_the_settings_do_not_read() -> None:
    known = {v.name for v in variables()} | PROTOCOL_VARIABLES | BUILD_VARIABLES | OUTSIDE_VARIABLES
    families = tuple(name.removesuffix("<NAME>") for name in known if name.endswith("<NAME>"))
    for page in [*DOCS.glob("*.md"), REPO / "README.md"]:
        for name in set(re.findall(r"\b((?:SYNTHRAL|WORKFLOW)_[A-Z0-9_]*[A-Z0-9])\b", page.read_text())):
            if name in known or name.endswith("_") or name.startswith(families) or name.endswith("_KEY*"):
                continue
            assert name.removesuffix("_") in known or name.rstrip("_*").startswith(families), (page.name, name)


def test_the_settings_are_read_into_sections() -> None:
    settings = Settings.load(
        {
            "SYNTHRAL_HOME": "/srv/synthral/../synthral",
            "WORKFLOW_LEASE_SECONDS": " 12.5 ",
            "WORKFLOW_WORKER_CONCURRENCY": "3",
            "SYNTHRAL_FIND_LINKS": "/wheels/a:/wheels/b",
            "SYNTHRAL_LIMIT_IP_RATE": "50",
            "SYNTHRAL_PORT": "",  # empty: unset
            "SYNTHRAL_SECRET_API_TOKEN": "t0ken",
            "SYNTHRAL_SECRET_KEY": "a-credential-key",
            "SYNTHRAL_SECRET_STORE": "local",
            "SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_ID": "cid",
        }
    )
    assert settings.home == Path("/srv/synthral") and settings.wheelhouse == Path("/srv/synthral/wheelhouse")
    assert (settings.engine.lease_seconds, settings.engine.worker_concurrency) == (12.5, 3)
    assert settings.plugins.find_links == (Path("/wheels/a"), Path("/wheels/b"))
    assert settings.limits.ip_rate == 50 and settings.server.port == 8000
    assert {k: v.get_secret_value() for k, v in settings.security.step_secrets.items()} == {"api_token": "t0ken"}
    assert settings.security.secret_key is not None and "a-credential-key" not in repr(settings)
    assert {k: v.get_secret_value() for k, v in settings.security.secret_store_credentials.items()} == {
        "client_id": "cid"
    }
    changed = settings.replace(engine={"lease_seconds": 2.0})
    assert changed.engine.lease_seconds == 2.0 and changed.engine.worker_concurrency == 3
    assert settings.engine.lease_seconds == 12.5  # settings are values: a copy changes


def test_a_bad_value_names_the_variable_and_never_shows_a_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load({"WORKFLOW_LEASE_SECONDS": "soon", "SYNTHRAL_PORT": "70000", "WORKFLOW_MAX_RETRIES": "-1"})
    message = caught.value.message
    assert "WORKFLOW_LEASE_SECONDS='soon'" in message and "SYNTHRAL_PORT='70000'" in message
    assert "WORKFLOW_MAX_RETRIES='-1'" in message and "docs/configuration.md" in message
    assert sorted(caught.value.details["variables"]) == [
        "SYNTHRAL_PORT",
        "WORKFLOW_LEASE_SECONDS",
        "WORKFLOW_MAX_RETRIES",
    ]
    with pytest.raises(ConfigurationError) as secret:
        Settings.load({"SYNTHRAL_SECRET_KEY_FILE": "\x00not-a-path\x00", "SYNTHRAL_LIMIT_MAX_BODY": "0"})
    assert "not-a-path" not in secret.value.message and "SYNTHRAL_LIMIT_MAX_BODY='0'" in secret.value.message


def test_credential_kinds_are_declared_by_name_as_step_secrets_are() -> None:
    settings = Settings.load(
        {
            "SYNTHRAL_SECRET_STRIPE_KEY": "sk_test_1",
            "SYNTHRAL_CREDENTIAL_KIND_STRIPE_KEY": " API_KEY ",
            "SYNTHRAL_CREDENTIAL_KIND_DB_LOGIN": "basic",
            "SYNTHRAL_CREDENTIAL_KIND_LATER": "",  # empty: unset
        }
    )
    assert settings.security.secret_kinds == {"stripe_key": "api_key", "db_login": "basic"}
    assert set(settings.security.step_secrets) == {"stripe_key"}
    in_code = Settings.load({}, security={"secret_kinds": {"Stripe-Key": "oauth2"}})
    assert in_code.security.secret_kinds == {"stripe_key": "oauth2"}


def test_a_declared_kind_outside_the_four_names_the_variable_the_value_and_the_kinds() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load({"SYNTHRAL_CREDENTIAL_KIND_STRIPE_KEY": "apikey"})
    message = caught.value.message
    assert "SYNTHRAL_CREDENTIAL_KIND_STRIPE_KEY (security.secret_kinds['stripe_key']) is 'apikey'" in message
    assert "set it to one of secret, api_key, basic, oauth2" in message
    assert caught.value.details["variables"] == ["SYNTHRAL_CREDENTIAL_KIND_<NAME>"]
    pasted = "sk_live_" + "x" * 40  # a secret in the wrong variable is not echoed
    with pytest.raises(ConfigurationError) as secret:
        Settings.load({"SYNTHRAL_CREDENTIAL_KIND_STRIPE_KEY": pasted})
    assert pasted not in secret.value.message and "a value of 48 characters" in secret.value.message


def test_values_given_in_code_win_over_the_environment() -> None:
    settings = Settings.load({"SYNTHRAL_HOME": "/elsewhere", "WORKFLOW_LEASE_SECONDS": "9"}, home="/here")
    assert settings.home == Path("/here") and settings.engine.lease_seconds == 9


def test_the_ocr_code_and_web_settings_are_read_with_the_rest() -> None:
    settings = Settings.load(
        {
            "SYNTHRAL_OCR_ENGINES": '{"doctr": {"weights_dir": "/models/doctr"}}',
            "SYNTHRAL_OCR_BATCH_MAX": "7",
            "SYNTHRAL_CODE_CPU_SECONDS_PER_DAY": "90",
            "SYNTHRAL_WEB_ROOT": "/srv/web",
        }
    )
    assert settings.ocr.engine_configs == {"doctr": {"weights_dir": "/models/doctr"}}
    assert (settings.ocr.batch_max, settings.ocr.sync_max_bytes) == (7, 5 * 1024 * 1024)
    assert settings.limits.code_cpu_seconds_per_day == 90.0
    assert settings.server.web_root == Path("/srv/web")


def test_malformed_ocr_engines_name_the_variable_and_the_shape_wanted() -> None:
    for raw in ("{not json", '{"doctr": "weights"}', "[1, 2]"):
        with pytest.raises(ConfigurationError) as caught:
            Settings.load({"SYNTHRAL_OCR_ENGINES": raw})
        assert caught.value.details["variables"] == ["SYNTHRAL_OCR_ENGINES"], raw
    with pytest.raises(ConfigurationError, match="SYNTHRAL_CODE_CPU_SECONDS_PER_DAY='lots'"):
        Settings.load({"SYNTHRAL_CODE_CPU_SECONDS_PER_DAY": "lots"})
