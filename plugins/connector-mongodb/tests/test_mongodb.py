"""The MongoDB connector through PyMongo against a local wire-protocol server."""

from __future__ import annotations

import socket
import time

import pytest
from synthral_connector_mongodb.plugin import (
    Aggregate,
    DeleteDocuments,
    DocumentChange,
    Find,
    InsertDocuments,
    MongoDB,
    UpdateDocuments,
)

from synthral_sdk._conformance_sandbox import sandbox_unavailable
from synthral_sdk.errors import ConfigurationError, EgressDenied, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, RunnerClient, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-mongodb"


def test_insert_then_find_with_filter_projection_sort_and_extended_json(uri: str) -> None:
    s = {"uri": uri}
    docs = [
        {"sku": "a", "qty": 5, "at": {"$date": "2026-01-02T03:04:05Z"}, "tags": ["x"]},
        {"sku": "b", "qty": 1, "at": {"$date": "2026-01-03T00:00:00Z"}},
        {"sku": "c", "qty": 9},
    ]
    inserted = call(InsertDocuments(), {"collection": "stock", "documents": docs}, secrets=s)
    assert inserted["count"] == 3 and all(set(i) == {"$oid"} for i in inserted["inserted_ids"])
    found = call(
        Find(),
        {
            "collection": "stock",
            "filter": {"qty": {"$gte": 2}},
            "projection": {"_id": 0, "sku": 1, "qty": 1, "at": 1},
            "sort": {"qty": -1},
        },
        secrets=s,
    )
    assert found == {
        "documents": [{"sku": "c", "qty": 9}, {"sku": "a", "qty": 5, "at": {"$date": "2026-01-02T03:04:05Z"}}],
        "count": 2,
    }
    by_id = call(Find(), {"collection": "stock", "filter": {"_id": inserted["inserted_ids"][1]}}, secrets=s)
    assert by_id["documents"][0]["sku"] == "b" and by_id["documents"][0]["_id"] == inserted["inserted_ids"][1]
    paged = call(Find(), {"collection": "stock", "sort": {"sku": 1}, "skip": 1, "limit": 1}, secrets=s)
    assert [d["sku"] for d in paged["documents"]] == ["b"]
    other = call(Find(), {"collection": "stock", "database": "elsewhere"}, secrets=s)
    assert other == {"documents": [], "count": 0}


def test_update_one_many_and_upsert_then_delete(uri: str) -> None:
    s = {"uri": uri}
    call(
        InsertDocuments(),
        {"collection": "tasks", "documents": [{"n": i, "state": "open"} for i in range(5)]},
        secrets=s,
    )
    one = call(
        UpdateDocuments(), {"collection": "tasks", "filter": {"n": 0}, "update": {"$set": {"state": "done"}}}, secrets=s
    )
    assert one == {"matched": 1, "modified": 1, "upserted_id": None}
    many = call(
        UpdateDocuments(),
        {"collection": "tasks", "filter": {"state": "open"}, "update": {"$inc": {"n": 10}}, "many": True},
        secrets=s,
    )
    assert many == {"matched": 4, "modified": 4, "upserted_id": None}
    upsert = call(
        UpdateDocuments(),
        {"collection": "tasks", "filter": {"n": 99}, "update": {"$set": {"state": "new"}}, "upsert": True},
        secrets=s,
    )
    assert upsert["matched"] == 0 and set(upsert["upserted_id"]) == {"$oid"}
    assert call(DeleteDocuments(), {"collection": "tasks", "filter": {"state": "open"}}, secrets=s) == {"deleted": 1}
    gone = call(
        DeleteDocuments(), {"collection": "tasks", "filter": {"n": {"$gte": 10, "$lt": 50}}, "many": True}, secrets=s
    )
    assert gone == {"deleted": 3}
    left = call(Find(), {"collection": "tasks", "projection": {"_id": 0}, "sort": {"n": 1}}, secrets=s)
    assert left["documents"] == [{"n": 0, "state": "done"}, {"n": 99, "state": "new"}]


def test_aggregate_groups_and_says_when_it_cut_the_results(uri: str) -> None:
    s = {"uri": uri}
    rows = [{"team": t, "points": p} for t, p in [("red", 3), ("blue", 4), ("red", 5), ("green", 1)]]
    call(InsertDocuments(), {"collection": "scores", "documents": rows}, secrets=s)
    pipeline = [{"$group": {"_id": "$team", "total": {"$sum": "$points"}}}, {"$sort": {"total": -1}}]
    out = call(Aggregate(), {"collection": "scores", "pipeline": pipeline}, secrets=s)
    assert out == {
        "documents": [{"_id": "red", "total": 8}, {"_id": "blue", "total": 4}, {"_id": "green", "total": 1}],
        "count": 3,
        "truncated": False,
    }
    cut = call(Aggregate(), {"collection": "scores", "pipeline": pipeline, "limit": 2}, secrets=s)
    assert cut["count"] == 2 and cut["truncated"] is True


def test_javascript_operators_replacements_and_empty_filters_are_refused_before_any_write(uri: str) -> None:
    s = {"uri": uri}
    call(InsertDocuments(), {"collection": "guarded", "documents": [{"k": 1}, {"k": 2}]}, secrets=s)
    with pytest.raises(ConfigurationError, match=r"uses \$where, which runs JavaScript"):
        call(Find(), {"collection": "guarded", "filter": {"$where": "sleep(10000)"}}, secrets=s)
    nested = [{"$match": {"$expr": {"$function": {"body": "function() {return true}", "args": [], "lang": "js"}}}}]
    with pytest.raises(ConfigurationError, match=r"\$function"):
        call(Aggregate(), {"collection": "guarded", "pipeline": nested}, secrets=s)
    with pytest.raises(ConfigurationError, match="must use update operators"):
        call(UpdateDocuments(), {"collection": "guarded", "filter": {"k": 1}, "update": {"k": 5}}, secrets=s)
    with pytest.raises(ConfigurationError, match="would touch every document"):
        call(DeleteDocuments(), {"collection": "guarded", "filter": {}, "many": True}, secrets=s)
    with pytest.raises(ConfigurationError, match="name the document to delete"):
        call(DeleteDocuments(), {"collection": "guarded", "filter": {}}, secrets=s)
    with pytest.raises(ConfigurationError, match="not valid MongoDB Extended JSON"):
        call(Find(), {"collection": "guarded", "filter": {"_id": {"$oid": "not-hex"}}}, secrets=s)
    with pytest.raises(ConfigurationError, match="use 1 or -1"):
        call(Find(), {"collection": "guarded", "sort": {"k": 2}}, secrets=s)
    with pytest.raises(InputInvalid, match="collection"):
        call(Find(), {"collection": "$cmd"}, secrets=s)
    left = call(Find(), {"collection": "guarded", "projection": {"_id": 0}, "sort": {"k": 1}}, secrets=s)
    assert left["documents"] == [{"k": 1}, {"k": 2}]


def test_a_duplicate_key_names_the_code_and_what_was_written(uri: str) -> None:
    s = {"uri": uri}
    with pytest.raises(NonRetryableError, match=r"refused a write: .* \(code 11000\); 1 documents before it"):
        call(InsertDocuments(), {"collection": "uniq", "documents": [{"_id": 1}, {"_id": 1}, {"_id": 2}]}, secrets=s)
    assert call(Find(), {"collection": "uniq"}, secrets=s)["documents"] == [{"_id": 1}]


def test_credential_problems_and_an_unreachable_server_are_named(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="granted no 'uri'"):
        call(Find(), {"collection": "x"})
    with pytest.raises(ConfigurationError, match="write it as mongodb://"):
        call(Find(), {"collection": "x"}, secrets={"uri": "postgres://h/db"})
    with pytest.raises(ConfigurationError, match="put it in the URI"):
        call(Find(), {"collection": "x"}, secrets={"uri": uri.rsplit("/", 1)[0] + "/"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    dead = f"mongodb://127.0.0.1:{closed}/shop?serverSelectionTimeoutMS=300"
    with pytest.raises(RetryableError, match="could not reach MongoDB"):
        call(Find(), {"collection": "x"}, secrets={"uri": dead})
    assert call(MongoDB(), {}, operation="test_connection", secrets={"uri": dead})["ok"] is False
    ok = call(MongoDB(), {}, operation="test_connection", secrets={"uri": uri})
    assert ok["ok"] is True and ok["message"].startswith("connected to MongoDB ")


def test_document_change_starts_at_the_end_then_emits_new_documents_once(uri: str) -> None:
    s = {"uri": uri}
    call(InsertDocuments(), {"collection": "feed", "documents": [{"kind": "old"}]}, secrets=s)
    config = {"collection": "feed", "filter": {"kind": {"$ne": "noise"}}}
    first = call(DocumentChange(), {"state": None}, config=config, secrets=s)
    added = call(
        InsertDocuments(),
        {"collection": "feed", "documents": [{"kind": "a"}, {"kind": "noise"}, {"kind": "b"}]},
        secrets=s,
    )
    second = call(DocumentChange(), {"state": first["state"]}, config=config, secrets=s)
    third = call(DocumentChange(), {"state": second["state"]}, config=config, secrets=s)
    assert first["events"] == [] and set(first["state"]["cursor"]) == {"$oid"}
    assert [e["document"]["kind"] for e in second["events"]] == ["a", "b"]
    assert [e["key"] for e in second["events"]] == [added["inserted_ids"][0], added["inserted_ids"][2]]
    assert second["events"][0]["id"] == added["inserted_ids"][0]["$oid"]
    assert third["events"] == [] and third["state"] == second["state"]
    backfill = call(DocumentChange(), {"state": None}, config={**config, "backfill": True}, secrets=s)
    assert [e["document"]["kind"] for e in backfill["events"]] == ["old", "a", "b"]


def test_changed_documents_sharing_a_timestamp_page_through_batches_each_version_once(uri: str) -> None:
    s = {"uri": uri}
    config = {"collection": "tickets", "cursor_field": "meta.updatedAt", "batch": 3}
    state = call(DocumentChange(), {"state": None}, config=config, secrets=s)["state"]
    assert state == {"cursor": None, "key": None}
    stamp = {"$date": "2026-03-01T10:00:00Z"}
    docs = [{"_id": i, "status": "open", "meta": {"updatedAt": stamp}} for i in range(7)]
    call(InsertDocuments(), {"collection": "tickets", "documents": docs}, secrets=s)
    ids: list[str] = []
    for _ in range(4):
        polled = call(DocumentChange(), {"state": state}, config=config, secrets=s)
        ids += [e["id"] for e in polled["events"]]
        state = polled["state"]
    assert [i.split("@")[0] for i in ids] == [str(i) for i in range(7)]
    later = {"$date": "2026-03-01T10:05:00Z"}
    call(
        UpdateDocuments(),
        {
            "collection": "tickets",
            "filter": {"_id": {"$in": [2, 5]}},
            "update": {"$set": {"status": "closed", "meta.updatedAt": later}},
            "many": True,
        },
        secrets=s,
    )
    changed = call(DocumentChange(), {"state": state}, config=config, secrets=s)
    assert [(e["key"], e["document"]["status"]) for e in changed["events"]] == [(2, "closed"), (5, "closed")]
    assert not {e["id"] for e in changed["events"]} & set(ids)
    assert call(DocumentChange(), {"state": changed["state"]}, config=config, secrets=s)["events"] == []


def test_every_connection_obeys_the_calls_network_policy(uri: str) -> None:
    # A server's policy refuses this machine: refused at once with the fix, not waited out as unreachable.
    started = time.monotonic()
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
            call(
                Find(),
                {"collection": "x"},
                secrets={"uri": uri.replace("127.0.0.1", host)},
                network=NetworkPolicy.server(),
            )
    with pytest.raises(EgressDenied, match="private"):
        call(
            Find(),
            {"collection": "x"},
            secrets={"uri": "mongodb://10.0.0.1:27017/shop"},
            network=NetworkPolicy.server(),
        )
    assert time.monotonic() - started < 10
    # What the operator allows is reached.
    allowed = NetworkPolicy.server(allow=["127.0.0.1"])
    call(InsertDocuments(), {"collection": "policy", "documents": [{"n": 1}]}, secrets={"uri": uri}, network=allowed)
    found = call(Find(), {"collection": "policy"}, secrets={"uri": uri}, network=allowed)
    assert [d["n"] for d in found["documents"]] == [1]
    # A host the plugin was not granted is never reached.
    granted = NetworkPolicy(allow_loopback=True, hosts=("db.example.com:27017",))
    with pytest.raises(EgressDenied, match=r"granted network access to db\.example\.com:27017 only"):
        call(Find(), {"collection": "x"}, secrets={"uri": uri}, network=granted)


def test_the_plugin_runs_in_the_os_sandbox_and_connects_through_its_egress_proxy(uri: str) -> None:
    if (problem := sandbox_unavailable()) is not None:
        pytest.skip(f"no OS sandbox here: {problem}")
    by_name = {"uri": uri.replace("127.0.0.1", "localhost")}
    with RunnerClient("synthral-connector-mongodb", sandboxed=True) as runner:
        assert runner.sandboxed  # it no longer asks to run outside the sandbox
        # The sandbox has no network of its own: PyMongo's connections went through the egress proxy.
        runner.invoke(
            "insert", {"collection": "sandboxed", "documents": [{"at": "inside"}]}, context={"secrets": by_name}
        )
        found = runner.invoke("find", {"collection": "sandboxed"}, context={"secrets": by_name})
        assert [d["at"] for d in found["documents"]] == ["inside"]
        with pytest.raises(EgressDenied, match="SYNTHRAL_EGRESS_ALLOW"):
            runner.invoke(
                "find",
                {"collection": "sandboxed"},
                context={"secrets": by_name, "network": NetworkPolicy.server().to_wire()},
            )
        # SRV records cannot be looked up in the sandbox: said with the fix, not a DNS timeout.
        with pytest.raises(ConfigurationError, match="standard connection string"):
            runner.invoke(
                "find", {"collection": "x"}, context={"secrets": {"uri": "mongodb+srv://cluster0.example.net/shop"}}
            )
