"""Server mode: what happens without a reachable Qdrant server, and config errors."""

from __future__ import annotations

import socket

import pytest
from synthral_vector_qdrant import QdrantStore

from synthral_sdk.errors import ConfigInvalid, RetryableError
from synthral_sdk.testing import call


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_a_retryable_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(RetryableError) as caught:
        call(
            QdrantStore(),
            {"collection": "c", "vector": [1.0, 0.0], "top_k": 1},
            config={"url": url, "timeout": 2},
            operation="query",
        )
    assert url in caught.value.message and "'url'" in caught.value.message


def test_without_a_folder_or_url_the_config_error_names_both() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        call(QdrantStore(), {"collection": "c"}, operation="count")
    assert "'path'" in caught.value.message and "'url'" in caught.value.message
