"""pgvector specifics: the HNSW and GIN indexes, passwords kept out of the config, the network policy."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest
from pg import dsn, server, socket_dsn
from psycopg.conninfo import conninfo_to_dict
from synthral_vector_pgvector import PgVectorStore, plugin, store

from synthral_sdk._conformance_sandbox import sandbox_unavailable
from synthral_sdk.errors import ConfigInvalid, EgressDenied, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient, call

SERVER = NetworkPolicy.server()


def test_a_collection_gets_an_hnsw_and_a_gin_index() -> None:
    records = [{"id": f"r{i}", "vector": [float(i), 1.0, 0.5], "text": "t", "metadata": {"k": i % 2}} for i in range(5)]
    call(PgVectorStore(), {"collection": "indexed", "records": records}, config={"dsn": dsn()}, operation="upsert")
    with psycopg.connect(dsn()) as connection:
        rows = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'synthral_vec_indexed' ORDER BY indexname"
        ).fetchall()
    definitions = " ".join(row[0] for row in rows)
    assert "USING hnsw (embedding vector_cosine_ops)" in definitions
    assert "USING gin (metadata jsonb_path_ops)" in definitions


def test_a_password_in_the_dsn_is_refused_naming_the_secret() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        call(PgVectorStore(), {"collection": "c"}, config={"dsn": "postgresql://u:hunter2@db/x"}, operation="count")
    assert "'password'" in caught.value.message and "hunter2" not in caught.value.message


def test_the_database_is_reached_only_where_the_network_policy_allows() -> None:
    config = {"dsn": dsn()}
    # The local policy tests run under (this machine reachable) opens a pool; by name too.
    assert call(PgVectorStore(), {"collection": "policy"}, config=config, operation="count")["count"] == 0
    by_name = {"dsn": dsn("localhost")}
    assert call(PgVectorStore(), {"collection": "policy"}, config=by_name, operation="count")["count"] == 0
    # A server's policy refuses this machine, though a pool to it is open already: a call gets
    # no pool opened under a laxer policy than its own.
    for refused in (config, by_name):
        with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
            call(PgVectorStore(), {"collection": "policy"}, config=refused, operation="count", network=SERVER)
    # A private address is refused before anything is sent (no 15 s wait for a pool).
    started = time.monotonic()
    with pytest.raises(EgressDenied, match="private"):
        call(
            PgVectorStore(),
            {"collection": "policy"},
            config={"dsn": "postgresql://rag@10.0.0.1:5432/vectors"},
            operation="count",
            network=SERVER,
        )
    assert time.monotonic() - started < 5
    # What the operator allows is reached.
    allowed = NetworkPolicy.server(allow=["127.0.0.1"])
    assert (
        call(PgVectorStore(), {"collection": "policy"}, config=config, operation="count", network=allowed)["count"] == 0
    )


def test_an_unreachable_server_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryableError, match="cannot be reached"):
        call(
            PgVectorStore(),
            {"collection": "c"},
            config={"dsn": f"postgresql://rag@127.0.0.1:{port}/vectors"},
            operation="count",
        )


def test_a_dsn_without_a_reachable_server_says_how_to_name_one() -> None:
    for bad in (socket_dsn(), "dbname=vectors user=rag"):
        with pytest.raises(ConfigInvalid, match="names no server by host name or address"):
            call(PgVectorStore(), {"collection": "c"}, config={"dsn": bad}, operation="count")
    with pytest.raises(ConfigInvalid, match="2 hosts and 3 ports"):
        call(PgVectorStore(), {"collection": "c"}, config={"dsn": "host=a,b port=1,2,3"}, operation="count")
    with pytest.raises(ConfigInvalid, match="does not parse"):
        call(PgVectorStore(), {"collection": "c"}, config={"dsn": "host='unterminated"}, operation="count")


def test_a_pool_connects_through_forwards_it_closes_with_itself() -> None:
    call(PgVectorStore(), {"collection": "forwarded"}, config={"dsn": dsn()}, operation="count")
    pools = [held.pool for held in store._pools._pools.values()]  # noqa: SLF001 -- what the pools connect to
    forwarded = [conninfo_to_dict(pool.conninfo) for pool in pools]
    ports = {int(info["port"]) for info in forwarded if info["host"] == "127.0.0.1"}
    assert ports and server()[1] not in ports  # libpq connects to a loopback forward, not to the server
    for port in ports:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    plugin.synthral_shutdown()
    assert all(pool.closed for pool in pools)
    for port in ports:  # the forwards are gone with their pools
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # The next call opens a pool again.
    assert call(PgVectorStore(), {"collection": "forwarded"}, config={"dsn": dsn()}, operation="count")["count"] == 0


@pytest.mark.skipif(sandbox_unavailable() is not None, reason="no OS sandbox here (Linux with bubblewrap)")
def test_the_store_works_in_the_os_sandbox_through_its_egress_proxy() -> None:
    records = [{"id": f"s{i}", "vector": [float(i), 1.0, 0.5], "metadata": {"k": i % 2}} for i in range(4)]
    with RunnerClient("synthral-vector-pgvector", sandboxed=True) as client:
        assert client.sandboxed  # the runner falls back to no sandbox for a plugin that asks to run outside it
        config = {"dsn": dsn("localhost")}
        upserted = client.invoke(
            "pgvector", {"collection": "sandboxed", "records": records}, operation="upsert", config=config
        )
        assert upserted == {"upserted": 4}
        found = client.invoke(
            "pgvector", {"collection": "sandboxed", "vector": [3.0, 1.0, 0.5], "top_k": 1}, operation="query",
            config=config,
        )  # fmt: skip
        assert [match["id"] for match in found["matches"]] == ["s3"]
        # The egress proxy judges the name's address by the call's policy: refused on a server.
        with pytest.raises(EgressDenied, match="loopback"):
            client.invoke(
                "pgvector", {"collection": "sandboxed"}, operation="count", config=config,
                context={"network": SERVER.to_wire()},
            )  # fmt: skip
