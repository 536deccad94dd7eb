"""Pinecone specifics: the API key, the headers, errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from pinecone_standin import PineconeStandIn
from synthral_vector_pinecone import PineconeStore

from synthral_sdk.errors import ConfigInvalid, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import call


@pytest.fixture
def index() -> Iterator[PineconeStandIn]:
    with PineconeStandIn(dimension=4) as standin:
        yield standin


def test_nested_metadata_and_text_come_back_whole(index: PineconeStandIn) -> None:
    record = {"id": "a", "vector": [1.0, 0, 0, 0], "text": "hello", "metadata": {"tags": {"x": [1, 2]}, "lang": "en"}}
    config = {"index_host": index.host}
    call(
        PineconeStore(),
        {"collection": "c", "records": [record]},
        config=config,
        operation="upsert",
        secrets={"api_key": "pc-test"},
    )
    found = call(
        PineconeStore(),
        {"collection": "c", "vector": [1.0, 0, 0, 0], "top_k": 1, "filter": {"lang": "en"}},
        config=config,
        operation="query",
        secrets={"api_key": "pc-test"},
    )
    assert found["matches"][0]["metadata"] == {"tags": {"x": [1, 2]}, "lang": "en"}
    assert found["matches"][0]["text"] == "hello"


def test_a_wrong_key_is_not_retried_and_names_the_secret(index: PineconeStandIn) -> None:
    with pytest.raises(NonRetryableError) as caught:
        call(
            PineconeStore(),
            {"collection": "c"},
            config={"index_host": index.host},
            operation="count",
            secrets={"api_key": "nope"},
        )
    assert "api_key" in caught.value.message


def test_no_key_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigInvalid):
        call(PineconeStore(), {"collection": "c"}, config={"index_host": "http://127.0.0.1:9"}, operation="count")


def test_an_unreachable_index_is_retryable_and_names_index_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryableError) as caught:
        call(
            PineconeStore(),
            {"collection": "c"},
            config={"index_host": f"http://127.0.0.1:{port}"},
            operation="count",
            secrets={"api_key": "k"},
        )
    assert "index_host" in caught.value.message


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(index: PineconeStandIn) -> None:
    for host in (index.host, "https://10.0.0.1"):
        with pytest.raises(EgressDenied) as denied:  # a server's policy, the default Context()'s
            call(
                PineconeStore(),
                {"collection": "c"},
                config={"index_host": host},
                operation="count",
                secrets={"api_key": "pc-test"},
                network=NetworkPolicy.server(),
            )
        assert str(urlsplit(host).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert index.requests == []  # refused before connecting, not reported as an unreachable index
