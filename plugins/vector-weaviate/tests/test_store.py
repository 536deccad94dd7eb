"""Weaviate specifics: class names, GraphQL literals, keys, unknown filter fields."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from synthral_vector_weaviate import WeaviateStore
from synthral_vector_weaviate.store import graphql_value, where_filter
from weaviate_standin import WeaviateStandIn

from synthral_sdk.errors import EgressDenied, InputInvalid, NonRetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import call


@pytest.fixture
def server() -> Iterator[WeaviateStandIn]:
    with WeaviateStandIn() as standin:
        yield standin


def op(server: WeaviateStandIn, operation: str, payload: dict[str, object], key: str = "wv-test") -> dict[str, object]:
    return call(WeaviateStore(), payload, config={"url": server.url}, operation=operation, secrets={"api_key": key})


def test_filters_render_as_graphql_with_enums_bare_and_strings_quoted() -> None:
    rendered = graphql_value(where_filter({"lang": "en", "n": [1, 2]}))
    assert rendered.startswith('{operator: And, operands: [{path: ["lang"], operator: Equal, valueText: "en"}')
    assert "operator: Or" in rendered and "valueNumber: 1" in rendered


def test_a_filter_on_a_property_no_object_has_finds_nothing(server: WeaviateStandIn) -> None:
    op(server, "upsert", {"collection": "c", "records": [{"id": "a", "vector": [1.0, 0.0], "metadata": {"k": "v"}}]})
    found = op(server, "query", {"collection": "c", "vector": [1.0, 0.0], "filter": {"other": "x"}})
    assert found["matches"] == []
    assert op(server, "count", {"collection": "c", "filter": {"other": "x"}})["count"] == 0
    assert server.classes["Synthral_c"]["vectorizer"] == "none"


def test_a_filter_key_weaviate_cannot_name_is_refused() -> None:
    with pytest.raises(InputInvalid):
        where_filter({"my-key": 1})


def test_a_wrong_key_is_not_retried_and_names_the_secret(server: WeaviateStandIn) -> None:
    with pytest.raises(NonRetryableError) as caught:
        op(server, "count", {"collection": "c"}, key="nope")
    assert "api_key" in caught.value.message


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(server: WeaviateStandIn) -> None:
    upsert = {"collection": "c", "records": [{"id": "a", "vector": [1.0, 0.0]}]}
    for url in (server.url, "http://10.0.0.1:8080"):
        with pytest.raises(EgressDenied) as denied:  # a server's policy, the default Context()'s
            call(
                WeaviateStore(),
                upsert,
                config={"url": url},
                operation="upsert",
                secrets={"api_key": "wv-test"},
                network=NetworkPolicy.server(),
            )
        assert str(urlsplit(url).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert server.classes == {} and server.objects == {}  # refused before connecting
