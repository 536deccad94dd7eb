"""The MySQL connector against a real local MariaDB server."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from synthral_connector_mysql.plugin import DeleteRows, Execute, InsertRows, MySQL, Query, RowChange, UpdateRows

from synthral_sdk._conformance_sandbox import sandbox_unavailable
from synthral_sdk.errors import ConfigurationError, EgressDenied, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, RunnerClient, call


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


def test_the_server_is_reached_only_where_the_network_policy_allows(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server's policy refuses this machine and private networks: a DSN pointing there is a
    # clear refusal, not a connection error to retry, and the connection test says why.
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": dsn}, network=NetworkPolicy.server())
    refused = call(MySQL(), {}, operation="test_connection", secrets={"dsn": dsn}, network=NetworkPolicy.server())
    assert refused["ok"] is False and "SYNTHRAL_EGRESS_ALLOW" in refused["message"]
    with monkeypatch.context() as patched:

        def no_connection(*args: Any, **kwargs: Any) -> socket.socket:
            raise AssertionError("a connection was attempted")

        patched.setattr(socket, "create_connection", no_connection)
        with pytest.raises(EgressDenied, match="private"):
            call(
                Query(),
                {"sql": "SELECT 1"},
                secrets={"dsn": "mysql://app:s3cret@10.0.0.1:3306/shop"},
                network=NetworkPolicy.server(),
            )
    # Reached by a name, with the address judged where it resolved: still the same server.
    by_name = dsn.replace("127.0.0.1", "localhost")
    assert call(Query(), {"sql": "SELECT CURRENT_USER() AS who"}, secrets={"dsn": by_name})["rows"] == [
        {"who": "app@127.0.0.1"}
    ]
    # Nothing listening is still the retryable "could not connect".
    with pytest.raises(RetryableError, match="could not connect to MySQL"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": "mysql://app:s3cret@127.0.0.1:1/shop"})


def test_a_unix_socket_dsn_says_to_name_the_server_by_host(dsn: str) -> None:
    with pytest.raises(ConfigurationError, match=r"Unix socket .*plugins cannot reach it; name the server by host"):
        call(
            Query(),
            {"sql": "SELECT 1"},
            secrets={"dsn": "mysql://app:s3cret@localhost/shop?unix_socket=/run/mysqld/mysqld.sock"},
        )
    with pytest.raises(ConfigurationError, match="port that is not a number"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": "mysql://app:s3cret@localhost:db/shop"})


def test_tls_checks_the_certificate_against_the_dsn_host_name(dsn: str, tls_ca: str) -> None:
    # The socket is opened by the plugin, yet PyMySQL's TLS still checks the name in the DSN.
    by_name = dsn.replace("127.0.0.1", "localhost")
    status = call(
        Query(), {"sql": "SHOW SESSION STATUS LIKE 'Ssl_version'"}, secrets={"dsn": f"{by_name}?ssl_ca={tls_ca}"}
    )
    assert status["rows"][0]["Value"].startswith("TLS")
    with pytest.raises(EgressDenied, match="loopback"):  # TLS or not, the policy decides first
        call(
            Query(), {"sql": "SELECT 1"}, secrets={"dsn": f"{by_name}?ssl_ca={tls_ca}"}, network=NetworkPolicy.server()
        )
    # The certificate names localhost only: the same server by its address is not accepted.
    with pytest.raises(NonRetryableError, match=r"certificate was not accepted for 127\.0\.0\.1"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": f"{dsn}?ssl_ca={tls_ca}"})
    # ssl=true is required TLS checked against the system's CAs, which do not know this one.
    with pytest.raises(NonRetryableError, match="certificate was not accepted for localhost"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": f"{by_name}?ssl=true"})
    with pytest.raises(ConfigurationError, match="not a readable CA file"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": f"{by_name}?ssl_ca=/nonexistent/ca.pem"})


def test_the_plugin_runs_in_the_os_sandbox_and_connects_through_its_egress_proxy(
    mariadb: tuple[str, str | None],
) -> None:
    if (problem := sandbox_unavailable()) is not None:
        pytest.skip(f"no OS sandbox here: {problem}")
    dsn, tls = mariadb
    by_name = {"dsn": dsn.replace("127.0.0.1", "localhost")}
    with RunnerClient("synthral-connector-mysql", sandboxed=True) as runner:
        assert runner.sandboxed  # it no longer asks to run outside the sandbox
        # The sandbox has no network of its own: this went through the egress proxy's tunnel.
        who = runner.invoke("query", {"sql": "SELECT CURRENT_USER() AS who"}, context={"secrets": by_name})
        assert who["rows"] == [{"who": "app@127.0.0.1"}]
        if tls is not None:  # and PyMySQL's TLS runs inside that tunnel
            status = runner.invoke(
                "query", {"sql": "SHOW SESSION STATUS LIKE 'Ssl_version'"}, context={"secrets": by_name}
            )
            assert status["rows"][0]["Value"].startswith("TLS")
        with pytest.raises(EgressDenied, match="SYNTHRAL_EGRESS_ALLOW"):
            runner.invoke(
                "query",
                {"sql": "SELECT 1"},
                context={"secrets": by_name, "network": NetworkPolicy.server().to_wire()},
            )
