"""The MySQL connector against a real local MariaDB server."""

from __future__ import annotations

import pytest
from synthral_connector_mysql.plugin import DeleteRows, Execute, InsertRows, MySQL, Query, RowChange, UpdateRows

from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError
from synthral_sdk.testing import PluginConformance, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-mysql"


def test_insert_query_update_delete_and_execute_with_bound_parameters(dsn: str) -> None:
    s = {"dsn": dsn}
    call(
        Execute(),
        {
            "sql": "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(100) NOT NULL,"
            " total DECIMAL(10,2), meta JSON, placed DATETIME)"
        },
        secrets=s,
    )
    inserted = call(
        InsertRows(),
        {
            "table": "orders",
            "rows": [
                {"customer": "ada", "total": 12.5, "meta": {"vip": True}, "placed": "2026-01-02 03:04:05"},
                {"customer": "bob'; DROP TABLE orders; --"},
                {"customer": "cy", "total": 3},
            ],
        },
        secrets=s,
    )
    assert inserted == {"inserted": 3, "first_id": 1}
    found = call(
        Query(),
        {"sql": "SELECT customer, total, meta, placed FROM orders WHERE customer = %s", "params": ["ada"]},
        secrets=s,
    )
    assert found["rows"] == [
        {"customer": "ada", "total": "12.50", "meta": '{"vip": true}', "placed": "2026-01-02 03:04:05"}
    ]
    named = call(
        Query(),
        {"sql": "SELECT COUNT(*) AS n FROM shop.orders WHERE customer LIKE %(p)s", "params": {"p": "bob%"}},
        secrets=s,
    )
    assert named["rows"] == [{"n": 1}]
    updated = call(
        UpdateRows(), {"table": "orders", "values": {"total": 99}, "where": {"customer": ["ada", "cy"]}}, secrets=s
    )
    assert updated == {"rowcount": 2}
    assert call(DeleteRows(), {"table": "orders", "where": {"total": None}}, secrets=s) == {"rowcount": 1}
    left = call(Query(), {"sql": "SELECT customer, total FROM orders ORDER BY id"}, secrets=s)
    assert left["rows"] == [{"customer": "ada", "total": "99.00"}, {"customer": "cy", "total": "99.00"}]
    added = call(Execute(), {"sql": "INSERT INTO orders (customer) VALUES (%s)", "params": ["dee"]}, secrets=s)
    assert added == {"rowcount": 1, "last_insert_id": 4}
    literal = call(Query(), {"sql": "SELECT COUNT(*) AS n FROM orders WHERE customer LIKE 'd%'"}, secrets=s)
    assert literal["rows"] == [{"n": 1}]


def test_an_insert_that_fails_on_one_row_leaves_none_of_them(dsn: str) -> None:
    s = {"dsn": dsn}
    call(Execute(), {"sql": "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)"}, secrets=s)
    with pytest.raises(NonRetryableError, match=r"Duplicate entry '1' for key 'PRIMARY' \(error 1062\)"):
        call(InsertRows(), {"table": "people", "rows": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}, secrets=s)
    assert call(Query(), {"sql": "SELECT COUNT(*) AS n FROM people"}, secrets=s)["rows"] == [{"n": 0}]


def test_bad_input_is_named_and_nothing_is_touched(dsn: str) -> None:
    s = {"dsn": dsn}
    call(Execute(), {"sql": "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)"}, secrets=s)
    call(InsertRows(), {"table": "notes", "rows": [{"body": "keep"}]}, secrets=s)
    with pytest.raises(NonRetryableError, match=r"Table 'shop.nope' doesn't exist \(error 1146\)"):
        call(Query(), {"sql": "SELECT * FROM nope"}, secrets=s)
    with pytest.raises(NonRetryableError, match="error 1064"):
        call(Query(), {"sql": "SELECT 1; DROP TABLE notes"}, secrets=s)
    with pytest.raises(InputInvalid, match="table"):
        call(InsertRows(), {"table": "notes; DROP TABLE notes", "rows": [{"body": "x"}]}, secrets=s)
    with pytest.raises(ConfigurationError, match="names the column 'body`=1 --'"):
        call(UpdateRows(), {"table": "notes", "values": {"body`=1 --": "x"}, "where": {"id": 1}}, secrets=s)
    with pytest.raises(ConfigurationError, match="'where' is empty, which would touch every row"):
        call(DeleteRows(), {"table": "notes"}, secrets=s)
    with pytest.raises(ConfigurationError, match="one value per %s"):
        call(Query(), {"sql": "SELECT * FROM notes WHERE id = %s AND body = %s", "params": [1]}, secrets=s)
    with pytest.raises(ConfigurationError, match="granted no 'dsn'"):
        call(Query(), {"sql": "SELECT 1"})
    with pytest.raises(ConfigurationError, match="write it as mysql://"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": "postgresql://app@127.0.0.1/shop"})
    assert call(Query(), {"sql": "SELECT body FROM notes"}, secrets=s)["rows"] == [{"body": "keep"}]
    assert call(DeleteRows(), {"table": "notes", "all_rows": True}, secrets=s) == {"rowcount": 1}


def test_connection_test_reports_the_user_and_a_wrong_password(dsn: str) -> None:
    ok = call(MySQL(), {}, operation="test_connection", secrets={"dsn": dsn})
    assert ok["ok"] is True and ok["message"].startswith("connected as app@127.0.0.1 to ")
    bad = call(MySQL(), {}, operation="test_connection", secrets={"dsn": dsn.replace("s3cret", "nope")})
    assert bad["ok"] is False and "refused the credential" in bad["message"] and "error 1045" in bad["message"]
    with pytest.raises(NonRetryableError, match="refused the credential"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": dsn.replace("s3cret", "nope")})


def test_row_change_trigger_starts_at_the_end_then_emits_new_rows_once(dsn: str) -> None:
    s = {"dsn": dsn}
    call(Execute(), {"sql": "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, kind TEXT)"}, secrets=s)
    call(InsertRows(), {"table": "events", "rows": [{"kind": "old"}]}, secrets=s)
    first = call(RowChange(), {"state": None}, config={"table": "events"}, secrets=s)
    call(InsertRows(), {"table": "shop.events", "rows": [{"kind": "a"}, {"kind": "b"}]}, secrets=s)
    second = call(RowChange(), {"state": first["state"]}, config={"table": "events"}, secrets=s)
    third = call(RowChange(), {"state": second["state"]}, config={"table": "events"}, secrets=s)
    assert first == {"events": [], "state": {"cursor": 1, "key": 1}}
    assert [(e["id"], e["row"]["kind"]) for e in second["events"]] == [("2@2", "a"), ("3@3", "b")]
    assert third == {"events": [], "state": second["state"]}
    backfill = call(RowChange(), {"state": None}, config={"table": "events", "backfill": True}, secrets=s)
    assert [e["row"]["kind"] for e in backfill["events"]] == ["old", "a", "b"]


def test_changed_rows_sharing_one_timestamp_page_through_batches_each_version_once(dsn: str) -> None:
    s = {"dsn": dsn}
    call(
        Execute(),
        {
            "sql": "CREATE TABLE tickets (id INT PRIMARY KEY, status VARCHAR(10), updated_at TIMESTAMP(6) NOT NULL"
            " DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))"
        },
        secrets=s,
    )
    config = {"table": "tickets", "cursor_column": "updated_at", "batch": 4}
    state = call(RowChange(), {"state": None}, config=config, secrets=s)["state"]
    assert state == {"cursor": None, "key": None}
    # Ten rows in one statement share one updated_at: batches of 4 must still see each once.
    call(InsertRows(), {"table": "tickets", "rows": [{"id": i, "status": "open"} for i in range(10)]}, secrets=s)
    ids: list[str] = []
    for _ in range(4):
        polled = call(RowChange(), {"state": state}, config=config, secrets=s)
        ids += [e["id"] for e in polled["events"]]
        state = polled["state"]
    assert [i.split("@")[0] for i in ids] == [str(i) for i in range(10)]
    call(UpdateRows(), {"table": "tickets", "values": {"status": "closed"}, "where": {"id": [3, 7]}}, secrets=s)
    changed = call(RowChange(), {"state": state}, config=config, secrets=s)
    assert [(e["key"], e["row"]["status"]) for e in changed["events"]] == [(3, "closed"), (7, "closed")]
    assert not {e["id"] for e in changed["events"]} & set(ids)  # a new version is a new event for the host
    assert call(RowChange(), {"state": changed["state"]}, config=config, secrets=s)["events"] == []
    with pytest.raises(NonRetryableError, match="Unknown column 'nope'"):
        call(RowChange(), {"state": state}, config={**config, "cursor_column": "nope"}, secrets=s)
