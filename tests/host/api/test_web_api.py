"""The scraping and browser routes on real plugins: a page, a durable crawl, watches, sessions; roles and workspaces."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from synthral.store.db import Database
from synthral.store.web_tables import BROWSER_SESSION
from tests.host.api.conftest import running_api
from tests.support.api import Api, wait_for
from tests.support.web_site import WebSite

pytestmark = pytest.mark.timeout(600)
FAST = {"requests_per_second": 500, "concurrency_per_domain": 16}


@pytest.fixture(scope="module")
def site() -> Iterator[WebSite]:
    with WebSite(pages=120) as running:
        yield running


@pytest.fixture
async def api(
    database: Database, web_home: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    # The stand-in site is on this machine: allowed the way an operator allows an internal site.
    monkeypatch.setenv("SYNTHRAL_EGRESS_ALLOW", "127.0.0.1")
    async with running_api(database, web_home, wheelhouse) as running:
        yield running


async def test_a_page_is_scraped_for_editors_only(api: Api, site: WebSite) -> None:
    body = {
        "url": f"{site.url}/p/5",
        "input": {"include": ["text"], "fields": {"price": {"css": ".price"}}},
        "politeness": FAST,
    }

    answer = await api.call("editor", "POST", "/scraping/scrape", json=body)
    assert answer.status_code == 200, answer.text
    scraped = answer.json()
    assert scraped["output"]["fields"] == {"price": "5.99"} and "page number 5" in scraped["output"]["text"]

    status = await api.call("viewer", "GET", f"/scraping/status/{scraped['job_id']}")
    assert status.json()["status"] == "completed"
    assert (await api.call("viewer", "POST", "/scraping/scrape", json=body)).status_code == 403
    other = await api.call(
        "outsider",
        "GET",
        f"/scraping/status/{scraped['job_id']}",
        headers=api.headers("outsider", workspace="globex"),
    )
    assert other.status_code == 404


async def test_bad_requests_name_the_field_and_the_fix(api: Api) -> None:
    answer = await api.call("editor", "POST", "/scraping/scrape", json={"url": "ftp://x/"})
    assert answer.status_code in (400, 422)
    assert "absolute http(s) URL" in answer.json()["detail"]
    crawl = await api.call("editor", "POST", "/scraping/crawl", json={"seeds": ["https://x/"], "max_pages": 0})
    assert crawl.status_code == 422 and "max_pages" in crawl.text
    fast = await api.call(
        "editor",
        "POST",
        "/scraping/crawl",
        json={"seeds": ["https://x/"], "politeness": {"requests_per_second": 10**6}},
    )
    assert fast.status_code == 422 and "requests_per_second" in fast.text


async def test_a_crawl_runs_as_a_durable_run_and_reports_its_progress(api: Api, site: WebSite) -> None:
    body = {"seeds": [f"{site.url}/p/0"], "max_pages": 40, "max_depth": 3, "politeness": FAST, "include": ["text"]}
    started = await api.call("editor", "POST", "/scraping/crawl", json=body)
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]

    for _ in range(600):
        job = (await api.call("viewer", "GET", f"/scraping/status/{job_id}")).json()
        if job["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.2)
    assert job["status"] == "budget_exhausted" and job["pages_stored"] == 40
    assert job["execution_id"] == started.json()["execution_id"]
    pages = (await api.call("viewer", "GET", f"/scraping/status/{job_id}/pages?limit=5")).json()
    assert len(pages["items"]) == 5 and pages["items"][0]["content"]["mediaType"] == "application/json"


async def test_a_watch_takes_a_version_then_reports_the_change_with_its_diff(api: Api, site: WebSite) -> None:
    site.watched = "<html><body><p id='news'>first news</p><p id='clock'>12:00:01</p></body></html>"
    body = {"url": f"{site.url}/watch", "filters": {"ignore_selectors": ["#clock"]}, "schedule": "*/5 * * * *"}
    made = await api.call("editor", "POST", "/scraping/change-detection", json=body)
    assert made.status_code == 201, made.text
    watch = made.json()
    assert watch["checks"] == 1 and watch["workflow_id"]

    site.watched = site.watched.replace("12:00:01", "12:00:02")  # only the ignored clock moved
    same = (await api.call("editor", "POST", f"/scraping/change-detection/{watch['id']}/check")).json()
    assert same["changed"] is False

    site.watched = site.watched.replace("first news", "second news")
    changed = (await api.call("editor", "POST", f"/scraping/change-detection/{watch['id']}/check")).json()
    assert changed["changed"] is True
    assert "-first news" in changed["diff"] and "+second news" in changed["diff"]


async def test_browser_sessions_keep_their_cookies_sealed_and_hide_them(api: Api, site: WebSite) -> None:
    token = "v" + secrets.token_hex(10)
    set_cookie = {"action": "evaluate", "script": f"() => {{ document.cookie = 'k={token}; path=/'; return 1 }}"}
    first = await api.call(
        "editor",
        "POST",
        "/browser/execute",
        json={"actions": [{"action": "goto", "url": f"{site.url}/p/1"}, set_cookie]},
    )
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    actions = [
        {"action": "goto", "url": f"{site.url}/p/2"},
        {"action": "evaluate", "script": "() => document.cookie"},
        {"action": "screenshot"},
    ]
    blobs = api.state.app.plugins.blobs.root
    assert [p for p in blobs.rglob("*") if p.is_file() and token.encode() in p.read_bytes()] == []  # sealed at rest
    second = await api.call("editor", "POST", "/browser/execute", json={"session_id": session_id, "actions": actions})
    assert second.json()["results"][1]["value"] == f"k={token}"
    assert [p for p in blobs.rglob("*") if p.is_file() and token.encode() in p.read_bytes()] == []
    async with api.state.app.database.engine.connect() as connection:
        row = (
            await connection.execute(select(BROWSER_SESSION.c.state).where(BROWSER_SESSION.c.id == session_id))
        ).one()
    assert "sealed" in row.state and token not in json.dumps(row.state)

    record = (await api.call("viewer", "GET", f"/browser/session/{session_id}")).json()
    assert [a["kind"] for a in record["actions"]] == ["goto", "evaluate", "goto", "evaluate", "screenshot"]
    assert record["actions"][4]["result"]["file"]["mediaType"] == "image/png"
    assert "state" not in record
    hidden = await api.call(
        "outsider", "GET", f"/browser/session/{session_id}", headers=api.headers("outsider", workspace="globex")
    )
    assert hidden.status_code == 404


async def test_a_javascript_page_is_monitored_through_a_browser(api: Api, site: WebSite) -> None:
    made = await api.call(
        "editor",
        "POST",
        "/browser/monitor",
        json={"url": f"{site.url}/p/3", "schedule": None, "selector": ".price"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["engine"] == "scrape-playwright/render" and made.json()["snapshot"] == "3.99"


async def test_steps_of_a_run_share_their_browser_session(api: Api, site: WebSite) -> None:
    remember = "() => { document.cookie = 'who=ada; path=/'; localStorage.setItem('cart', '3'); return 1 }"
    recall = "() => document.cookie + ' ' + localStorage.getItem('cart')"
    workflow = {
        "name": "browse",
        "nodes": [
            {
                "id": "login",
                "type": "browser/run",
                "input": {
                    "actions": [
                        {"action": "goto", "url": f"{site.url}/p/1"},
                        {"action": "evaluate", "script": remember},
                    ]
                },
            },
            {
                "id": "check",
                "type": "browser/run",
                "input": {
                    "actions": [
                        {"action": "goto", "url": f"{site.url}/p/2"},
                        {"action": "evaluate", "script": recall},
                        {"action": "screenshot"},
                    ]
                },
            },
        ],
        "edges": [{"source": "login", "target": "check"}],
    }
    made = await api.call("editor", "POST", "/workflows", json=workflow)
    assert made.status_code == 201, made.text

    run = (await api.call("editor", "POST", f"/workflows/{made.json()['id']}/run", json={})).json()
    done = await wait_for(api, run["execution_id"], timeout=300)

    assert done["execution"]["status"] == "completed", done
    check = done["execution"]["output"]["check"]
    assert check["results"][1]["value"] == "who=ada 3"
    [login] = [step for step in done["steps"] if step["node_id"] == "login"]
    assert check["session_id"] == login["output"]["session_id"]
    screenshot = check["results"][2]["file"]
    blob = await api.call("viewer", "GET", f"/executions/{run['execution_id']}/blobs/{screenshot['$blob']}")
    assert blob.status_code == 200 and blob.content.startswith(b"\x89PNG")


async def test_a_site_on_a_private_address_is_refused_until_the_operator_allows_it(
    database: Database, web_home: Path, wheelhouse: Path, site: WebSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNTHRAL_EGRESS_ALLOW", raising=False)  # a server's own default: public addresses only
    async with running_api(database, web_home, wheelhouse) as api:
        body = {"url": f"{site.url}/p/5", "input": {"include": ["text"]}, "politeness": FAST}
        answer = await api.call("editor", "POST", "/scraping/scrape", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "egress_denied" and "SYNTHRAL_EGRESS_ALLOW" in answer.json()["detail"]
