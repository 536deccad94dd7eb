"""Upgrade checks over HTTP: owners only, the workspace's own history, problem+json with API fixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthral.plugins.host import PluginHost
from synthral.store.db import Database
from tests.host.api.conftest import running_api
from tests.support.api import Api, wait_for
from tests.support.engine import chain
from tests.support.settings import GRANT_ALL, make_settings

pytestmark = pytest.mark.slow


async def _save_and_run(api: Api, workflow: dict[str, object], payload: dict[str, object]) -> str:
    saved = await api.call("editor", "POST", "/workflows", json=workflow)
    assert saved.status_code == 201, saved.text
    workflow_id = str(saved.json()["id"])
    ran = await api.call("editor", "POST", f"/workflows/{workflow_id}/run", json={"trigger_data": payload})
    assert ran.status_code == 202, ran.text
    assert (await wait_for(api, ran.json()["execution_id"]))["execution"]["status"] == "completed"
    return workflow_id


@pytest.mark.timeout(600)
async def test_owners_check_apply_and_roll_back_an_upgrade_over_http(
    database: Database, tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    async with PluginHost(make_settings(home, wheelhouse)) as plugins:
        await plugins.install(str(fixture_wheels["upgrady"]), grant=GRANT_ALL)
    async with running_api(database, home, wheelhouse) as api:
        greeter = await _save_and_run(
            api,
            chain("greeter", {"id": "g", "type": "upgrady/greet", "input": {"name": "{{ trigger.n }}"}}),
            {"n": "Ada"},
        )
        await _save_and_run(api, chain("divider", {"id": "d", "type": "upgrady/divide", "input": {"a": 1, "b": 2}}), {})
        unrelated = await _save_and_run(api, chain("unrelated", {"id": "a", "type": "core/set"}), {})
        with fixture_wheels["upgrady-2"].open("rb") as wheel:
            uploaded = await api.call(
                "owner",
                "POST",
                "/plugins",
                files={"wheel": (fixture_wheels["upgrady-2"].name, wheel, "application/octet-stream")},
            )
        assert uploaded.status_code == 201, uploaded.text

        for role in ("editor", "viewer"):
            denied = await api.call(role, "POST", "/plugins/upgrady/upgrade-check", json={"version": "2.0.0"})
            assert denied.status_code == 403, denied.text
        checked = await api.call("owner", "POST", "/plugins/upgrady/upgrade-check", json={"version": "2.0.0"})
        assert checked.status_code == 200, checked.text
        report = checked.json()
        assert report["counts"] == {"identical": 0, "changed": 1, "failing": 1, "incompatible": 0}
        assert report["removed_capabilities"] == ["shout"] and report["clean"] is False
        [changed] = [s for s in report["samples"] if s["outcome"] == "changed"]
        assert changed["diff"] == [{"op": "replace", "path": "/greeting", "value": "Hello, Ada!"}]

        elsewhere = await api.http.post(
            "/plugins/upgrady/upgrade-check",
            json={"version": "2.0.0"},
            headers=api.headers("outsider", workspace=api.other_workspace),
        )
        assert elsewhere.status_code == 200, elsewhere.text
        assert elsewhere.json()["samples"] == [] and "no completed steps" in elsewhere.json()["notes"][0]

        refused = await api.call("owner", "POST", "/plugins/upgrady/upgrade", json={"version": "2.0.0"})
        assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["code"] == "upgrade_not_clean" and '"accept_changes": true' in problem["detail"]
        assert "--" not in problem["detail"] and problem["details"]["report"]["counts"]["changed"] == 1

        wrong = await api.call(
            "owner", "POST", "/plugins/upgrady/upgrade", json={"version": "2.0.0", "workflows": [unrelated]}
        )
        assert wrong.status_code == 422 and "does not use plugin upgrady" in wrong.json()["detail"]
        assert 'leave it out of "workflows"' in wrong.json()["detail"]

        applied = await api.call(
            "owner",
            "POST",
            "/plugins/upgrady/upgrade",
            json={"version": "2.0.0", "workflows": [greeter], "accept_changes": True},
        )
        assert applied.status_code == 200, applied.text
        assert [(w["workflow"], w["to_version"]) for w in applied.json()["workflows"]] == [("greeter", "2.0.0")]
        shown = await api.call("viewer", "GET", f"/workflows/{greeter}")
        assert shown.json()["plugin_versions"] == {"upgrady": "2.0.0"}

        back = await api.call("owner", "POST", "/plugins/upgrady/rollback")
        assert back.status_code == 200, back.text
        assert [(w["workflow"], w["to_version"]) for w in back.json()["workflows"]] == [("greeter", "1.0.0")]
        again = await api.call("owner", "POST", "/plugins/upgrady/rollback")
        assert again.status_code == 409 and again.json()["code"] == "nothing_to_roll_back"

        unknown = await api.call("owner", "POST", "/plugins/nosuch/upgrade-check", json={"version": "1.0.0"})
        assert unknown.status_code == 404 and unknown.json()["code"] == "plugin_not_found"
        bad = await api.call("owner", "POST", "/plugins/upgrady/upgrade-check", json={"version": "../x", "samples": 0})
        assert bad.status_code == 422
