"""The PostgreSQL connector against a real local server."""

from __future__ import annotations

import pytest
from synthral_connector_postgresql.plugin import Execute, InsertRows, NewRow, Postgres, Query

from synthral_sdk.errors import ConfigurationError, EgressDenied, InputInvalid, NonRetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-postgresql"


def test_insert_query_and_execute_with_bound_parameters(dsn: str) -> None:
    secrets = {"dsn": dsn}
    call(
        Execute(),
        {"sql": "CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric, meta jsonb)"},
        secrets=secrets,
    )
    inserted = call(
        InsertRows(),
        {
            "table": "orders",
            "rows": [
                {"customer": "ada", "total": 12.5, "meta": {"vip": True}},
                {"customer": "bob'; DROP TABLE orders; --"},
            ],
            "returning": ["id"],
        },
        secrets=secrets,
    )
    assert inserted == {"inserted": 2, "returned": [{"id": 1}, {"id": 2}]}
    found = call(
        Query(),
        {"sql": "SELECT customer, total, meta FROM orders WHERE customer = %s", "params": ["ada"]},
        secrets=secrets,
    )
    assert found == {"rows": [{"customer": "ada", "total": "12.5", "meta": {"vip": True}}], "count": 1}
    hostile = call(
        Query(),
        {"sql": "SELECT count(*) AS n FROM orders WHERE customer LIKE %(p)s", "params": {"p": "bob%"}},
        secrets=secrets,
    )
    assert hostile["rows"] == [{"n": 1}]
    updated = call(Execute(), {"sql": "UPDATE orders SET total = total * 2 WHERE total IS NOT NULL"}, secrets=secrets)
    assert updated == {"rowcount": 1}


def test_errors_name_the_sqlstate_and_a_table_name_cannot_carry_sql(dsn: str) -> None:
    with pytest.raises(NonRetryableError, match=r'relation "nope" does not exist \(SQLSTATE 42P01\)'):
        call(Query(), {"sql": "SELECT * FROM nope"}, secrets={"dsn": dsn})
    with pytest.raises(InputInvalid, match="table"):
        call(InsertRows(), {"table": "orders; DROP TABLE orders", "rows": [{"a": 1}]}, secrets={"dsn": dsn})
    with pytest.raises(ConfigurationError, match="granted no 'dsn'"):
        call(Query(), {"sql": "SELECT 1"})


def test_connection_test_reports_the_user(dsn: str) -> None:
    assert call(Postgres(), {}, operation="test_connection", secrets={"dsn": dsn}) == {
        "ok": True,
        "message": "connected as app",
    }
    bad = call(Postgres(), {}, operation="test_connection", secrets={"dsn": dsn.replace("/shop", "/missing")})
    assert bad["ok"] is False


def test_new_row_trigger_starts_at_the_end_then_emits_rows_past_its_cursor(dsn: str) -> None:
    secrets = {"dsn": dsn}
    call(Execute(), {"sql": "CREATE TABLE events (id bigserial PRIMARY KEY, kind text)"}, secrets=secrets)
    call(InsertRows(), {"table": "public.events", "rows": [{"kind": "old"}]}, secrets=secrets)
    first = call(NewRow(), {"state": None}, config={"table": "events"}, secrets=secrets)
    call(InsertRows(), {"table": "events", "rows": [{"kind": "a"}, {"kind": "b"}]}, secrets=secrets)
    second = call(NewRow(), {"state": first["state"]}, config={"table": "events"}, secrets=secrets)
    third = call(NewRow(), {"state": second["state"]}, config={"table": "events"}, secrets=secrets)
    assert first == {"events": [], "state": {"cursor": 1}}
    assert [e["kind"] for e in second["events"]] == ["a", "b"] and second["state"] == {"cursor": 3}
    assert third["events"] == []


def test_the_database_is_reached_only_where_the_network_policy_allows(dsn: str) -> None:
    # A server's policy refuses this machine and private networks: a DSN pointing there is a
    # clear refusal before libpq sends a byte, not a connection error to retry.
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": dsn}, network=NetworkPolicy.server())
    with pytest.raises(EgressDenied, match="private"):
        call(
            Query(),
            {"sql": "SELECT 1"},
            secrets={"dsn": "postgresql://app@10.0.0.1/shop"},
            network=NetworkPolicy.server(),
        )
    # Reached by a name, with the address judged where it resolved: still the same database.
    by_name = dsn.replace("127.0.0.1", "localhost")
    assert call(Query(), {"sql": "SELECT current_user AS who"}, secrets={"dsn": by_name})["rows"] == [{"who": "app"}]


def test_a_dsn_without_a_reachable_server_says_how_to_name_one(dsn: str) -> None:
    for bad in ("dbname=shop user=app", "host=/var/run/postgresql dbname=shop"):
        with pytest.raises(ConfigurationError, match="names no server by host name or address"):
            call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": bad})
    with pytest.raises(ConfigurationError, match="2 hosts and 3 ports"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": "host=a,b port=1,2,3 dbname=shop"})
    with pytest.raises(ConfigurationError, match="does not parse"):
        call(Query(), {"sql": "SELECT 1"}, secrets={"dsn": "host='unterminated"})
