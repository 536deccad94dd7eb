"""Retrieval benchmarks: ingest, query latency and recall per embedded store; QA hit rate per embedder.

Everything goes through the plugin boundary as the RAG service uses it: texts to the
embedder's process, vectors back to the host, records to the store's process. Chunks are
~256 bert-base-uncased tokens of words drawn from the project's own docs. Recall@10 is
measured against exact (brute-force cosine) search over the same vectors.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench.common import Result, percentile
from synthral.config import Settings
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.services.rag import RAGService
from synthral.services.rag_chunking import token_counter
from synthral.services.rag_models import DocumentIn, IndexSpec
from synthral.store.db import Database

GROUP = "rag"
ROOT = Path(__file__).resolve().parents[1]
EMBEDDER = "embed-model2vec/model2vec"
BATCH = 1000
QA_FILE = Path(__file__).with_name("rag_qa.json")

# Embedded stores: no server to run. Each config points the store at a folder of the run.
EMBEDDED_STORES: dict[str, tuple[str, str]] = {
    "lancedb": ("vector-lancedb", "vector-lancedb/lancedb"),
    "qdrant": ("vector-qdrant", "vector-qdrant/qdrant"),
    "chroma": ("vector-chroma", "vector-chroma/chroma"),
    "milvus": ("vector-milvus", "vector-milvus/milvus"),
}
EMBEDDERS: dict[str, tuple[str, str]] = {
    "model2vec": ("embed-model2vec", "embed-model2vec/model2vec"),
    "sentence-transformers": ("embed-sentence-transformers", "embed-sentence-transformers/sentence-transformers"),
}


def _vocabulary() -> list[str]:
    words: list[str] = []
    for path in sorted((ROOT / "docs").rglob("*.md")):
        words += re.findall(r"[A-Za-z][A-Za-z'-]{1,20}", path.read_text())
    return words


def make_chunks(count: int, *, tokens: int = 256, seed: int = 11) -> list[str]:
    """``count`` texts of about ``tokens`` tokens: the docs' words drawn at random (seeded).

    Drawn words, not windows of the docs: a static embedder ignores word order, so shuffled
    windows that overlap would embed to near-duplicates and make recall@10 a matter of ties.
    """
    words = _vocabulary()
    rng = random.Random(seed)
    count_tokens = token_counter()
    probe = " ".join(words[:400])
    per_word = count_tokens(probe) / 400
    length = int(tokens / per_word)
    chunks = []
    for _ in range(count):
        chunks.append(" ".join(rng.choices(words, k=length)))
    return chunks


def store_config(store: str, folder: Path) -> dict[str, Any]:
    """Each embedded store in its own folder of the run."""
    return {"path": str(folder / store)}


async def _embed(host: PluginHost, texts: list[str], purpose: str = "document", *, packed: bool = False) -> list[Any]:
    """One embed call; ``packed``: vectors as packed float32 strings, as the RAG service's ingest asks."""
    payload: dict[str, Any] = {"texts": texts, "purpose": purpose}
    if packed:
        payload["vector_encoding"] = "f32"
    out = await host.invoke(EMBEDDER, payload, operation="embed")
    return cast(list[Any], out["vectors"])


async def ingest(
    host: PluginHost, ref: str, config: dict[str, Any], collection: str, texts: list[str], *, packed: bool = True
) -> float:
    """Embed and upsert every text in batches, the next batch embedding while the last is written; seconds.

    ``packed``: vectors cross both boundaries as packed float32, as the RAG service sends them;
    else as JSON arrays (what plugins on an SDK before 1.11 get).
    """
    started = time.perf_counter()
    pending: asyncio.Task[Any] | None = None
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        vectors: list[Any] = await _embed(host, batch, packed=packed)
        records = [
            {"id": f"c{start + i}", "vector": v, "text": t, "metadata": {"n": start + i}}
            for i, (t, v) in enumerate(zip(batch, vectors, strict=True))
        ]
        if pending is not None:
            await pending
        pending = asyncio.ensure_future(
            host.invoke(ref, {"collection": collection, "records": records}, operation="upsert", config=config)
        )
    if pending is not None:
        await pending
    return time.perf_counter() - started


async def _install(host: PluginHost, folder: str) -> str | None:
    try:
        await host.install(str(ROOT / "plugins" / folder), grant=GrantRequest(items=["all"]))
    except Exception as exc:  # noqa: BLE001 -- a store that cannot be installed is reported, not fatal
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


async def store_figures(
    host: PluginHost, name: str, ref: str, folder: Path, texts: list[str], queries: list[str], exact: np.ndarray
) -> list[Result]:
    """Ingest, query latency and recall@10 of one store."""
    config = store_config(name, folder)
    collection = "bench"
    # The store's process starts and imports its library on its first call: not part of a rate.
    await ingest(host, ref, config, "warmup", texts[:BATCH])
    seconds = await ingest(host, ref, config, collection, texts)
    rate = len(texts) / seconds
    results = [
        Result(
            GROUP,
            f"{name}: ingest {len(texts):,} chunks, model2vec, through the plugins",
            rate,
            "chunks/s",
            ">= 2,000" if name == "lancedb" else "",
            rate >= 2000 if name == "lancedb" else None,
            {"seconds": seconds, "vectors": "packed float32"},
        )
    ]
    if name == "lancedb":  # the same ingest with vectors as JSON arrays, in the same run
        arrays = len(texts) / await ingest(host, ref, config, "bench_arrays", texts, packed=False)
        results.append(
            Result(GROUP, f"{name}: ingest {len(texts):,} chunks, vectors as JSON arrays", arrays, "chunks/s")
        )
        results.append(Result(GROUP, f"{name}: ingest speed-up of packed vectors", rate / arrays, "x"))
    latencies: list[float] = []
    found: list[list[int]] = []
    for query in queries[:20]:  # warm the caches and the index
        vector = (await _embed(host, [query], "query"))[0]
        await host.invoke(
            ref, {"collection": collection, "vector": vector, "top_k": 10}, operation="query", config=config
        )
    for query in queries:
        started = time.perf_counter()
        vector = (await _embed(host, [query], "query"))[0]
        out = await host.invoke(
            ref, {"collection": collection, "vector": vector, "top_k": 10}, operation="query", config=config
        )
        latencies.append(time.perf_counter() - started)
        found.append([int(str(m["id"])[1:]) for m in cast(list[dict[str, Any]], out["matches"])])
    recall = float(np.mean([len(set(f) & set(exact[i].tolist())) / 10 for i, f in enumerate(found)]))
    p95 = percentile(latencies, 95) * 1000
    target = name == "lancedb"
    results += [
        Result(GROUP, f"{name}: query p50, embedding included", percentile(latencies, 50) * 1000, "ms"),
        Result(
            GROUP,
            f"{name}: query p95, embedding included",
            p95,
            "ms",
            "<= 50" if target else "",
            p95 <= 50 if target else None,
        ),
        Result(
            GROUP,
            f"{name}: recall@10 vs exact search",
            recall,
            "",
            ">= 0.95" if target else "",
            recall >= 0.95 if target else None,
        ),
    ]
    return results


async def qa_figures(host: PluginHost, database: Database, installed: dict[str, str]) -> list[Result]:
    """Hit rate@5 of the QA set over the project's docs, per embedder, through the RAG service."""
    qa = json.loads(QA_FILE.read_text())
    service = RAGService(database, host)
    documents = [
        DocumentIn(key=str(path.relative_to(ROOT)), text=path.read_text(), source="file")
        for path in sorted((ROOT / "docs").glob("*.md"))
    ]
    results = []
    for label, ref in installed.items():
        name = f"qa_{label.replace('-', '_')}"
        spec = IndexSpec.model_validate(
            {
                "name": name,
                "embedder": ref,
                "store": "lancedb",
                "chunking": {"strategy": "markdown", "size": 256, "overlap": 32},
            }
        )
        await service.ensure_index(None, spec)
        await service.ingest(None, name, documents)
        hits = 0
        for item in qa:
            found = await service.query(None, name, item["question"], top_k=5)
            hits += any(h.document_key == item["document"] for h in found.hits)
        results.append(
            Result(
                GROUP,
                f"QA hit rate@5 over docs/ ({len(qa)} questions), {label}",
                hits / len(qa),
                "",
                extra={"hits": hits},
            )
        )
    return results


async def run(quick: bool = False) -> list[Result]:
    """All figures; ``SYNTHRAL_BENCH_RAG_STORES`` (comma-separated) limits the stores measured."""
    count = int(os.environ.get("SYNTHRAL_BENCH_RAG_CHUNKS") or (10_000 if quick else 100_000))
    only = {s for s in os.environ.get("SYNTHRAL_BENCH_RAG_STORES", "").split(",") if s}
    queries_n = 100 if quick else 300
    work = Path(tempfile.mkdtemp(prefix="synthral-bench-rag-"))
    settings = Settings.load(home=work / "home").replace(
        plugins={"wheelhouse": work / "wheelhouse", "call_timeout": 600.0}
    )
    host = PluginHost(settings)
    results: list[Result] = []
    try:
        assert await _install(host, "embed-model2vec") is None, "embed-model2vec must install"
        stores: dict[str, str] = {}
        for name, (folder, ref) in EMBEDDED_STORES.items():
            if only and name not in only:
                continue
            problem = await _install(host, folder)
            if problem is None:
                stores[name] = ref
            else:
                results.append(Result(GROUP, f"{name}: not measured", 0, "", extra={"why": problem}))
        texts = make_chunks(count)
        rng = random.Random(5)
        queries = [" ".join(texts[rng.randrange(count)].split()[:12]) for _ in range(queries_n)]

        await _embed(host, texts[:BATCH])  # the embedder's process starts and loads its model: not part of a rate
        started = time.perf_counter()
        vectors: list[list[float]] = []
        for start in range(0, count, BATCH):
            vectors += await _embed(host, texts[start : start + BATCH])
        embed_seconds = time.perf_counter() - started
        results.append(Result(GROUP, f"model2vec alone: embed {count:,} chunks", count / embed_seconds, "chunks/s"))
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            await _embed(host, texts[start : start + BATCH], packed=True)
        packed_rate = count / (time.perf_counter() - started)
        results.append(
            Result(GROUP, f"model2vec alone, packed vectors: embed {count:,} chunks", packed_rate, "chunks/s")
        )
        results.append(Result(GROUP, "machine load (1-minute average) while measuring", os.getloadavg()[0], ""))
        matrix = np.asarray(vectors, dtype=np.float32)
        query_matrix = np.asarray([(await _embed(host, [q], "query"))[0] for q in queries], dtype=np.float32)
        exact = np.argsort(-(query_matrix @ matrix.T), axis=1)[:, :10]

        for name, ref in stores.items():
            results += await store_figures(host, name, ref, work / "stores", texts, queries, exact)

        if os.environ.get("SYNTHRAL_BENCH_RAG_QA") == "0":
            return results
        embedders = {"model2vec": EMBEDDER}
        for label, (folder, ref) in list(EMBEDDERS.items())[1:]:
            if await _install(host, folder) is None:
                embedders[label] = ref
        database = Database(f"sqlite+aiosqlite:///{work / 'synthral.db'}")
        await database.migrate()
        try:
            results += await qa_figures(host, database, embedders)
        finally:
            await database.close()
    finally:
        await host.close()
    return results


def main() -> Awaitable[list[Result]]:
    """For ``python -m bench --only rag``."""
    return run()
