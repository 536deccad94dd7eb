"""GET /metrics by token or loopback, the audit log of real acts through the API, cost analytics."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from synthral.api.app import create_app
from synthral.config import Settings
from synthral.errors import AuthenticationFailed, Forbidden
from synthral.services.telemetry import METRICS_TOKEN_ENV, TelemetryService, check_scrape
from tests.support.api import Api, wait_for
from tests.support.engine import chain

pytestmark = pytest.mark.slow


def _names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


async def test_metrics_answer_loopback_without_a_token_and_count_the_runs(api: Api) -> None:
    workflow = (
        await api.call("editor", "POST", "/workflows", json=chain("m", {"id": "a", "type": "noop/echo"}))
    ).json()
    run = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"])
    async with httpx.AsyncClient(base_url=api.url) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    names = _names(answer.text)
    assert {"workflow_execution", "step_duration_seconds", "workflow_queue_depth", "plugin_process_up"} <= names
    assert 'plugin_process_up{plugin="noop",version="1.0.0"} 1.0' in answer.text
    assert 'step_duration_seconds_count{node_type="noop/echo",outcome="completed"}' in answer.text


async def test_with_a_scrape_token_metrics_need_it_even_from_loopback(api: Api) -> None:
    # As an operator sets it: the variable, read once with the other settings.
    observability = Settings.load({METRICS_TOKEN_ENV: "scrape-token-123456"}).observability
    api.state.telemetry = TelemetryService(api.state.app.database, api.state.app.plugins, observability)
    async with httpx.AsyncClient(base_url=api.url) as client:
        refused = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123456"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert METRICS_TOKEN_ENV in refused.json()["detail"]
    assert allowed.status_code == 200 and "workflow_queue_depth" in allowed.text


async def test_without_a_token_metrics_refuse_other_machines(api: Api) -> None:
    transport = httpx.ASGITransport(app=create_app(api.state), client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 403 and METRICS_TOKEN_ENV in answer.json()["detail"]


def test_the_scrape_check_compares_the_token_and_reads_addresses() -> None:
    check_scrape("127.0.0.1", None, token="")  # an empty token means none
    check_scrape("::1", None, token="")
    check_scrape("10.0.0.1", "Bearer t0ken", token="t0ken")
    with pytest.raises(Forbidden):
        check_scrape("10.0.0.1", None, token="")
    with pytest.raises(Forbidden):
        check_scrape("not-an-address", None, token="")
    with pytest.raises(AuthenticationFailed):
        check_scrape("127.0.0.1", "Basic t0ken", token="t0ken")


async def test_sign_ins_member_changes_credentials_and_deletes_are_audited_for_owners(api: Api) -> None:
    failed = await api.http.post("/auth/login", json={"email": "editor@example.com", "password": "wrong"})
    assert failed.status_code == 401
    assert (await api.call("owner", "PUT", "/workspace/members",
                           json={"email": "viewer@example.com", "role": "editor"})).status_code == 204  # fmt: skip
    assert (await api.call("editor", "PUT", "/credentials/stripe", json={"value": "sk_live_abcdef123456"})).is_success
    workflow = (
        await api.call("editor", "POST", "/workflows", json=chain("gone", {"id": "a", "type": "core/set"}))
    ).json()
    assert (await api.call("editor", "DELETE", f"/workflows/{workflow['id']}")).status_code == 204

    answer = await api.call("owner", "GET", "/audit")
    assert answer.status_code == 200, answer.text
    events = answer.json()["items"]
    actions = [e["action"] for e in events]
    assert actions[:4] == ["workflow.delete", "credential.write", "member.role_change", "auth.login_failed"]
    assert actions.count("auth.login") >= 3  # the owner's, editor's and viewer's sign-ins; not the outsider's
    assert all(e["actor_id"] != api.users["outsider"] for e in events)
    change = events[2]
    assert change["target_id"] == api.users["viewer"] and change["details"] == {
        "role": "editor",
        "previous_role": "viewer",
    }
    assert change["actor_id"] == api.users["owner"] and change["ip"] == "127.0.0.1"
    assert "sk_live_abcdef123456" not in answer.text
    assert events[3]["outcome"] == "failure" and events[3]["target_id"] == api.users["editor"]

    only = (await api.call("owner", "GET", "/audit", params={"action": "credential.write"})).json()["items"]
    assert [e["target_id"] for e in only] == ["stripe"]
    page = (await api.call("owner", "GET", "/audit", params={"limit": 2})).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await api.call("owner", "GET", "/audit", params={"cursor": page["next_cursor"]})).json()["items"]
    assert rest[0]["id"] < page["items"][-1]["id"]
    chain_report = (await api.call("owner", "GET", "/audit/verify")).json()
    assert chain_report["ok"] and chain_report["checked"] >= len(events)

    bad = await api.call("owner", "GET", "/audit", params={"action": "login"})
    assert bad.status_code == 422 and "auth.login" in bad.json()["detail"]
    assert (await api.call("editor", "GET", "/audit")).status_code == 403


async def test_a_step_reading_a_credential_is_audited_with_its_run(api: Api) -> None:
    await api.call("editor", "PUT", "/credentials/token", json={"value": "t0ken-for-the-step"})
    workflow = chain("reads", {"id": "who", "type": "noop/whoami", "secrets": ["token"]})
    made = (await api.call("editor", "POST", "/workflows", json=workflow)).json()
    run = (await api.call("editor", "POST", f"/workflows/{made['id']}/run", json={})).json()
    await wait_for(api, run["execution_id"])
    reads = (await api.call("owner", "GET", "/audit", params={"action": "credential.read_by_step"})).json()["items"]
    assert reads and reads[0]["details"] == {"names": ["token"], "execution_id": run["execution_id"], "node_id": "who"}
    assert reads[0]["actor_kind"] == "system"


async def test_costs_come_grouped_for_owners(api: Api) -> None:
    answer = await api.call("owner", "GET", "/analytics/costs", params={"group_by": "model"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["group_by"] == "model" and answer.json()["totals"]["llm_usd"] == 0
    bad = await api.call("owner", "GET", "/analytics/costs", params={"group_by": "week"})
    assert bad.status_code == 422 and "day, workflow, execution, model" in bad.json()["detail"]
    assert (await api.call("viewer", "GET", "/analytics/costs")).status_code == 403
