"""Against a local stand-in speaking the OpenAI embeddings API."""

from __future__ import annotations

import importlib.util
import math
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from synthral_embed_openai_compatible import OpenAICompatibleEmbedder

from synthral_sdk.errors import EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import call

_SPEC = importlib.util.spec_from_file_location(
    "openai_standin", Path(__file__).resolve().parents[3] / "tests" / "support" / "openai_standin.py"
)
assert _SPEC is not None and _SPEC.loader is not None
standin_module = importlib.util.module_from_spec(_SPEC)
sys.modules["openai_standin"] = standin_module
_SPEC.loader.exec_module(standin_module)
OpenAIStandIn: Any = standin_module.OpenAIStandIn


@pytest.fixture
def api() -> Iterator[Any]:
    with OpenAIStandIn(dims=32, api_key="sk-test") as standin:
        yield standin


def embed(api: Any, texts: list[str], **config: object) -> dict[str, Any]:
    return call(
        OpenAICompatibleEmbedder(),
        {"texts": texts},
        config={"base_url": api.base_url, "model": "m-small", **config},
        secrets={"api_key": "sk-test"},
    )


def test_texts_are_embedded_in_order_across_batches(api: Any) -> None:
    texts = [f"text number {i}" for i in range(7)]
    out = embed(api, texts, batch_size=3)
    assert out["model"] == f"openai-compatible/127.0.0.1:{api.port}/m-small"
    assert out["dimensions"] == 32 and len(out["vectors"]) == 7
    expected = standin_module.bag_of_words("text number 5", 32)
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(out["vectors"][5], expected, strict=True))
    assert [len(body["input"]) for _, body in api.requests] == [3, 3, 1]
    assert all(body["encoding_format"] == "base64" for _, body in api.requests)


def test_asked_dimensions_are_sent_and_recorded_in_the_model_id(api: Any) -> None:
    out = embed(api, ["a"], dimensions=16)
    assert out["dimensions"] == 16 and out["model"].endswith("/m-small:16")
    assert api.requests[-1][1]["dimensions"] == 16


def test_a_wrong_key_is_not_retried_and_names_the_secret(api: Any) -> None:
    with pytest.raises(NonRetryableError) as caught:
        call(
            OpenAICompatibleEmbedder(), {"texts": ["a"]}, config={"base_url": api.base_url}, secrets={"api_key": "bad"}
        )
    assert "api_key" in caught.value.message


def test_server_errors_and_rate_limits_are_retryable(api: Any) -> None:
    for status in (429, 503):
        api.fail_next.append(status)
        with pytest.raises(RetryableError):
            embed(api, ["a"])


def test_an_unreachable_server_is_retryable_and_names_base_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryableError) as caught:
        call(OpenAICompatibleEmbedder(), {"texts": ["a"]}, config={"base_url": f"http://127.0.0.1:{port}/v1"})
    assert "base_url" in caught.value.message


def test_a_server_that_is_not_an_embeddings_api_is_refused_clearly(api: Any) -> None:
    with pytest.raises(NonRetryableError) as caught:
        call(
            OpenAICompatibleEmbedder(),
            {"texts": ["a"]},
            config={"base_url": f"http://127.0.0.1:{api.port}/nothing-here"},
            secrets={"api_key": "sk-test"},
        )
    assert "404" in caught.value.message


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(api: Any) -> None:
    for base_url in (api.base_url, "http://10.0.0.1:11434/v1"):
        with pytest.raises(EgressDenied) as denied:  # a server's policy, the default Context()'s
            call(
                OpenAICompatibleEmbedder(),
                {"texts": ["a"]},
                config={"base_url": base_url},
                secrets={"api_key": "sk-test"},
                network=NetworkPolicy.server(),
            )
        assert str(urlsplit(base_url).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert api.requests == []  # refused before connecting, not reported as a retryable outage
