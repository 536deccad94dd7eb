"""The store through the real process boundary: ``python -m synthral_sdk.runner --dist synthral-secrets-infisical``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import CLIENT_ID, CLIENT_SECRET, StandIn

from synthral_sdk.errors import ConfigInvalid, NonRetryableError, RetryableError
from synthral_sdk.testing import RunnerClient
from synthral_sdk.types import JSONObject

pytestmark = pytest.mark.timeout(60)

GRANTED: JSONObject = {"secrets": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient("synthral-secrets-infisical") as client:
        yield client


def test_catalog_offers_the_store_and_its_secrets(runner: RunnerClient) -> None:
    plugin = runner.initialize_result["plugin"]
    capabilities = runner.initialize_result["capabilities"]

    assert isinstance(plugin, dict) and isinstance(capabilities, list)
    assert (plugin["name"], plugin["version"]) == ("synthral-secrets-infisical", "0.1.0")
    [store] = capabilities
    assert isinstance(store, dict)
    assert (store["name"], store["kind"]) == ("infisical", "secret_store")
    assert sorted(store["operations"]) == ["delete_secret", "get_secret", "put_secret"]  # type: ignore[arg-type]
    assert store["secrets"] == ["client_id", "client_secret"]


def test_put_get_delete_through_the_process(runner: RunnerClient, infisical: StandIn) -> None:
    config = infisical.config()

    written = runner.invoke(
        "infisical", {"name": "DB_URL", "value": "postgres://x"}, operation="put_secret", config=config, context=GRANTED
    )
    read = runner.invoke("infisical", {"name": "DB_URL"}, operation="get_secret", config=config, context=GRANTED)
    deleted = runner.invoke("infisical", {"name": "DB_URL"}, operation="delete_secret", config=config, context=GRANTED)
    missing = runner.invoke("infisical", {"name": "DB_URL"}, operation="get_secret", config=config, context=GRANTED)

    assert written == {"name": "DB_URL", "version": "1"}
    assert read == {"name": "DB_URL", "value": "postgres://x", "version": "1"}
    assert deleted == {"name": "DB_URL", "existed": True}
    assert missing == {"name": "DB_URL", "value": None, "version": None}


def test_errors_keep_their_type_across_the_boundary(runner: RunnerClient, infisical: StandIn, closed_port: int) -> None:
    wrong: JSONObject = {"secrets": {"client_id": CLIENT_ID, "client_secret": "wr0ng-s3cret-value"}}
    down = {"site_url": f"http://127.0.0.1:{closed_port}", "project_id": "p", "environment": "prod"}

    with pytest.raises(NonRetryableError, match="refused the Universal Auth login") as refused:
        runner.invoke("infisical", {"name": "K"}, operation="get_secret", config=infisical.config(), context=wrong)
    with pytest.raises(RetryableError, match="could not reach Infisical"):
        runner.invoke("infisical", {"name": "K"}, operation="get_secret", config=down, context=GRANTED)
    with pytest.raises(ConfigInvalid, match="grant the store"):
        runner.invoke("infisical", {"name": "K"}, operation="get_secret", config=infisical.config())

    assert refused.value.retryable is False
    assert "wr0ng-s3cret-value" not in refused.value.message


def test_log_lines_reach_the_host_without_values_or_credentials(runner: RunnerClient, infisical: StandIn) -> None:
    infisical.state.put("STRIPE_KEY", "sk_live_n0t_in_logs")

    runner.invoke(
        "infisical", {"name": "STRIPE_KEY"}, operation="get_secret", config=infisical.config(), context=GRANTED
    )

    lines = runner.logs()
    assert any(line.startswith("get STRIPE_KEY in prod:/ → version 1 in ") for line in lines)
    text = "\n".join(lines + runner.stderr_lines)
    for value in ("sk_live_n0t_in_logs", CLIENT_SECRET):
        assert value not in text
