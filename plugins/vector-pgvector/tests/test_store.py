"""pgvector specifics: the HNSW and GIN indexes, passwords kept out of the config."""

from __future__ import annotations

import psycopg
import pytest
from pg import dsn
from synthral_vector_pgvector import PgVectorStore

from synthral_sdk.errors import ConfigInvalid
from synthral_sdk.testing import call


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
