"""The code routes: run, register and list tools, quotas and sandboxes, each with its role."""

from __future__ import annotations

from tests.support.api import Api, wait_for
from tests.support.engine import chain

BWRAP = "code-bwrap/bwrap"


async def test_an_editor_runs_code_and_gets_its_result_and_record(code_api: Api) -> None:
    answer = await code_api.call(
        "editor",
        "POST",
        "/code/execute",
        json={"code": "print('hello')\nresult = inputs['a'] * 2", "inputs": {"a": 21}, "runtime": BWRAP},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert body["result"] == 42
    assert body["stdout"] == "hello\n"
    assert body["runtime"] == BWRAP
    record = await code_api.call("viewer", "GET", f"/code/runs/{body['id']}")
    assert record.status_code == 200, record.text
    assert record.json()["status"] == "completed"
    hidden = await code_api.call(
        "outsider",
        "GET",
        f"/code/runs/{body['id']}",
        headers=code_api.headers("outsider", workspace=code_api.other_workspace),
    )
    assert hidden.status_code == 404


async def test_failing_code_is_a_200_with_the_users_traceback(code_api: Api) -> None:
    answer = await code_api.call(
        "editor", "POST", "/code/execute", json={"code": "def f():\n    return 1 / 0\nf()", "runtime": BWRAP}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is False
    assert body["error"]["type"] == "ZeroDivisionError"
    assert "line 2, in f" in body["error"]["traceback"]


async def test_viewers_and_strangers_cannot_run_code(code_api: Api) -> None:
    body = {"code": "print(1)", "runtime": BWRAP}
    assert (await code_api.call("viewer", "POST", "/code/execute", json=body)).status_code == 403
    assert (await code_api.call("anonymous", "POST", "/code/execute", json=body)).status_code == 401
    assert (await code_api.call("outsider", "POST", "/code/execute", json=body)).status_code == 404


async def test_a_body_with_both_code_and_tool_is_refused_naming_the_fields(code_api: Api) -> None:
    answer = await code_api.call("editor", "POST", "/code/execute", json={"code": "print(1)", "tool": "x"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "either 'code'" in answer.text


async def test_tools_are_registered_by_editors_listed_to_viewers_and_run_by_name(code_api: Api) -> None:
    definition = {
        "name": "greet",
        "description": "Say hello",
        "code": "result = {'text': 'hello ' + inputs['who']}",
        "input_schema": {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]},
        "output_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
        "runtime": BWRAP,
    }
    created = await code_api.call("editor", "POST", "/code/register-tool", json=definition)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    again = await code_api.call("editor", "POST", "/code/register-tool", json={**definition, "description": "v2"})
    assert again.json()["version"] == 2
    assert (await code_api.call("viewer", "POST", "/code/register-tool", json=definition)).status_code == 403
    listed = await code_api.call("viewer", "GET", "/code/tools")
    assert listed.status_code == 200
    assert [(t["name"], t["version"]) for t in listed.json()["items"]] == [("greet", 2)]
    versions = await code_api.call("viewer", "GET", "/code/tools", params={"name": "greet"})
    assert [t["version"] for t in versions.json()["items"]] == [2, 1]
    ran = await code_api.call("editor", "POST", "/code/execute", json={"tool": "greet", "inputs": {"who": "Ada"}})
    assert ran.status_code == 200, ran.text
    assert ran.json()["result"] == {"text": "hello Ada"}
    bad = await code_api.call("editor", "POST", "/code/execute", json={"tool": "greet", "inputs": {"who": 7}})
    assert bad.status_code == 422
    assert "who" in bad.json()["detail"]
    elsewhere = await code_api.call(
        "outsider", "GET", "/code/tools", headers=code_api.headers("outsider", workspace=code_api.other_workspace)
    )
    assert elsewhere.json()["items"] == []


async def test_only_owners_set_the_quota_and_it_stops_runs(code_api: Api) -> None:
    assert (await code_api.call("editor", "PUT", "/code/quota", json={"cpu_seconds_per_day": 0})).status_code == 403
    answer = await code_api.call("owner", "PUT", "/code/quota", json={"cpu_seconds_per_day": 0})
    assert answer.status_code == 200, answer.text
    assert answer.json()["remaining"] == 0
    refused = await code_api.call("editor", "POST", "/code/execute", json={"code": "print(1)", "runtime": BWRAP})
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert "PUT /api/v1/code/quota" in refused.json()["detail"]
    shown = await code_api.call("viewer", "GET", "/code/quota")
    assert shown.json()["limit"] == 0


async def test_owners_name_sandboxes_that_runs_then_use(code_api: Api) -> None:
    sandbox = {"runtime": BWRAP, "timeout_s": 1}
    assert (await code_api.call("editor", "PUT", "/code/sandboxes/quick", json=sandbox)).status_code == 403
    assert (await code_api.call("owner", "PUT", "/code/sandboxes/quick", json=sandbox)).status_code == 204
    listed = await code_api.call("viewer", "GET", "/code/sandboxes")
    assert [item["name"] for item in listed.json()["items"]] == ["quick"]
    ran = await code_api.call(
        "editor", "POST", "/code/execute", json={"code": "import time\ntime.sleep(10)", "sandbox": "quick"}
    )
    assert ran.json()["limit"] == "timeout"


async def test_a_file_a_runs_code_step_made_is_handed_to_new_runs_of_its_workspace_only(code_api: Api) -> None:
    make = {"code": "open('out.txt', 'w').write('made by a step')", "runtime": BWRAP}
    maker = chain("maker", {"id": "make", "type": "code/run", "config": make})
    workflow = (await code_api.call("editor", "POST", "/workflows", json=maker)).json()
    run = (await code_api.call("editor", "POST", f"/workflows/{workflow['id']}/run", json={})).json()
    done = await wait_for(code_api, run["execution_id"], timeout=120)
    assert done["execution"]["status"] == "completed", done["execution"]
    [made] = done["execution"]["output"]["make"]["files"]
    assert made["name"] == "out.txt"

    read = {"code": "result = open('out.txt').read()", "files": [made], "runtime": BWRAP}
    answer = await code_api.call("editor", "POST", "/code/execute", json=read)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "made by a step"
    keep = chain("keep", {"id": "start", "type": "core/noop"})
    again = (await code_api.call("editor", "POST", "/workflows", json=keep)).json()
    second = await code_api.call("editor", "POST", f"/workflows/{again['id']}/run", json={"trigger_data": {"f": made}})
    assert second.status_code == 202, second.text

    outsider = code_api.headers("outsider", workspace=code_api.other_workspace)
    refused = await code_api.http.post("/code/execute", json=read, headers=outsider)
    assert refused.status_code == 404 and refused.json()["code"] == "blob_not_found", refused.text
