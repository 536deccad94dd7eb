"""Schedules with their next fire times, and the webhook subscription described without secrets."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.api import Api
from tests.support.engine import chain

pytestmark = pytest.mark.slow

NIGHTLY = chain(
    "nightly",
    {"id": "start", "type": "core/set", "config": {"values": {"n": 1}}},
    triggers=[
        {"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Paris"},
        {"type": "webhook"},
    ],
)


async def test_schedules_list_the_next_fire_times_in_utc_and_in_their_zone(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=NIGHTLY)).json()
    answer = await api.call("viewer", "GET", f"/workflows/{workflow['id']}/schedules", params={"upcoming": 3})
    assert answer.status_code == 200, answer.text
    [schedule] = answer.json()["items"]
    assert (schedule["cron"], schedule["timezone"], schedule["trigger_index"]) == ("30 2 * * *", "Europe/Paris", 0)
    assert len(schedule["upcoming"]) == 3
    slots = [datetime.fromisoformat(s["local"]) for s in schedule["upcoming"]]
    assert all((slot.hour, slot.minute) == (2, 30) or slot.hour == 3 for slot in slots)  # 03:30 on a skipped night
    utc = [datetime.fromisoformat(s["utc"]) for s in schedule["upcoming"]]
    assert utc == sorted(utc) and len(set(utc)) == 3
    assert all(a == b for a, b in zip(utc, slots, strict=True))  # the same instants


async def test_schedules_of_another_workspace_answer_not_found(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=NIGHTLY)).json()
    outsider = await api.http.get(
        f"/workflows/{workflow['id']}/schedules", headers=api.headers("outsider", workspace=api.other_workspace)
    )
    assert outsider.status_code == 404
    assert outsider.headers["content-type"] == "application/problem+json"
    too_many = await api.call("viewer", "GET", f"/workflows/{workflow['id']}/schedules", params={"upcoming": 500})
    assert too_many.status_code == 422 and "upcoming" in too_many.json()["detail"]


async def test_the_webhook_is_described_without_its_secret_and_shows_each_rotation(api: Api) -> None:
    workflow = (await api.call("editor", "POST", "/workflows", json=NIGHTLY)).json()
    before = (await api.call("viewer", "GET", f"/workflows/{workflow['id']}/webhook")).json()
    assert before["has_trigger"] and not before["subscribed"]
    assert before["url"].endswith(f"/api/v1/hooks/{workflow['id']}")
    made = (await api.call("editor", "POST", f"/workflows/{workflow['id']}/webhook")).json()
    after = await api.call("viewer", "GET", f"/workflows/{workflow['id']}/webhook")
    assert after.json()["subscribed"] and after.json()["scheme"] == made["scheme"]
    assert made["secret"] not in after.text
    rotated_at = after.json()["rotated_at"]
    await api.call("editor", "POST", f"/workflows/{workflow['id']}/webhook")
    again = (await api.call("viewer", "GET", f"/workflows/{workflow['id']}/webhook")).json()
    assert again["rotated_at"] >= rotated_at
    viewer_rotates = await api.call("viewer", "POST", f"/workflows/{workflow['id']}/webhook")
    assert viewer_rotates.status_code == 403


async def test_a_workflow_without_a_webhook_trigger_says_so(api: Api) -> None:
    plain = chain("plain", {"id": "start", "type": "core/set", "config": {"values": {"n": 1}}})
    workflow = (await api.call("editor", "POST", "/workflows", json=plain)).json()
    info = (await api.call("viewer", "GET", f"/workflows/{workflow['id']}/webhook")).json()
    assert (info["has_trigger"], info["url"], info["subscribed"]) == (False, None, False)
    assert (await api.call("viewer", "GET", f"/workflows/{workflow['id']}/schedules")).json()["items"] == []
