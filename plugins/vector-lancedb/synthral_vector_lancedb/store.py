"""The ``lancedb`` vector store: one LanceDB table per collection in a local folder.

Metadata is kept as a Lance JSON column and filtered with ``json_extract`` before the
vector search. Past ``index_threshold`` rows a table gets an IVF-flat index (cosine); rows
added after it are searched exactly until the index is rebuilt, at each doubling. Texts get a full-text
index on first write, for hybrid (BM25 + vector, fused by reciprocal rank) queries.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import lancedb
import pyarrow as pa
from lancedb.index import FTS, BTree, IvfFlat
from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import (
    Context,
    CountRequest,
    CountResult,
    DeleteRequest,
    DeleteResult,
    QueryMatch,
    QueryRequest,
    QueryResult,
    UpsertRequest,
    UpsertResult,
    VectorStore,
)
from synthral_sdk.errors import ConfigInvalid, InputInvalid

__all__ = ["LanceConfig", "LanceStore"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LanceConfig(BaseModel):
    """Where the tables live and when they get an ANN index."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None, description="The LanceDB folder. Empty: 'lancedb' in the plugin's data folder."
    )
    index_threshold: int = Field(
        default=20_000, ge=256, description="Rows past which a table gets an approximate (IVF) index."
    )
    nprobes: int = Field(default=32, ge=1, le=4096, description="IVF partitions searched per query.")
    compact_fragments: int = Field(
        default=16,
        ge=2,
        description=(
            "Data files (one per write) past which a table is compacted: each query opens every file, "
            "so many small writes slow every search."
        ),
    )


def _literal(value: object) -> str:
    """A SQL string literal holding the JSON text ``json_extract`` returns for ``value``."""
    return "'" + json.dumps(value, separators=(",", ":")).replace("'", "''") + "'"


def where_clause(where: Mapping[str, object] | None) -> str | None:
    """The SQL filter for an equality filter on the JSON metadata column."""
    if not where:
        return None
    parts = []
    for key, wanted in where.items():
        if not _KEY.fullmatch(key):
            raise InputInvalid(
                f"filter field {key!r}: metadata keys used in filters must be letters, digits and '_'",
                details={"field": f"filter.{key}"},
            )
        column = f"json_extract(metadata, '$.{key}')"
        if isinstance(wanted, list):
            if not wanted:
                return "false"
            parts.append(f"{column} IN ({', '.join(_literal(v) for v in wanted)})")
        else:
            parts.append(f"{column} = {_literal(wanted)}")
    return " AND ".join(parts)


def _in_ids(ids: list[str]) -> str:
    return "id IN (" + ", ".join("'" + i.replace("'", "''") + "'" for i in ids) + ")"


class _Tables:
    """Open connections and tables, one per folder and name, shared by the calls of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dbs: dict[str, Any] = {}
        self._tables: dict[tuple[str, str], Any] = {}
        self.write_locks: dict[tuple[str, str], threading.Lock] = {}

    def db(self, folder: str) -> Any:
        with self._lock:
            db = self._dbs.get(folder)
            if db is None:
                Path(folder).mkdir(parents=True, exist_ok=True)
                db = self._dbs[folder] = lancedb.connect(folder)
            return db

    def lock(self, folder: str, name: str) -> threading.Lock:
        with self._lock:
            return self.write_locks.setdefault((folder, name), threading.Lock())

    def get(self, folder: str, name: str) -> Any | None:
        key = (folder, name)
        with self._lock:
            table = self._tables.get(key)
        if table is not None:
            return table
        db = self.db(folder)
        try:
            table = db.open_table(name)
        except (FileNotFoundError, ValueError):
            return None
        with self._lock:
            self._tables[key] = table
        return table

    def create(self, folder: str, name: str, dims: int) -> Any:
        table = self.db(folder).create_table(name, schema=_schema(dims), exist_ok=True)
        with self._lock:
            self._tables[(folder, name)] = table
        return table


_tables = _Tables()


def _schema(dims: int) -> pa.Schema:
    """The table layout, used for every write.

    Not the table's own schema: Lance reports the JSON column as its binary storage type, and
    strings written as that are not valid JSONB.
    """
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dims)),
            pa.field("text", pa.string()),
            pa.field("metadata", pa.json_()),
        ]
    )


def _dims(table: Any) -> int:
    return int(table.schema.field("vector").type.list_size)


class LanceStore(VectorStore[LanceConfig]):
    """Embedded LanceDB: no server, a folder per store, cosine similarity."""

    name = "lancedb"
    title = "LanceDB (embedded)"
    features = ("filter", "hybrid", "ann")

    def _folder(self, config: LanceConfig, context: Context) -> str:
        if config.path:
            return str(Path(config.path).expanduser().resolve())
        if context.data_dir is None:
            raise ConfigInvalid(
                "config field 'path': no folder given and the plugin has no data folder here; set 'path'",
                details={"field": "path"},
            )
        return str(Path(context.data_dir) / "lancedb")

    def upsert(self, request: UpsertRequest, config: LanceConfig, context: Context) -> UpsertResult:
        """Merge the records into the collection's table by id; index it once it is big enough."""
        if not request.records:
            return UpsertResult(upserted=0)
        folder = self._folder(config, context)
        name = request.collection
        records = list({r.id: r for r in request.records}.values())  # the last of a repeated id wins
        with _tables.lock(folder, name):
            table = _tables.get(folder, name)
            vectors = [r.vector for r in records]
            dims = self.check_vectors(name, vectors, None if table is None else _dims(table))
            if table is None:
                table = _tables.create(folder, name, dims)
            batch = pa.Table.from_pydict(
                {
                    "id": [r.id for r in records],
                    "vector": vectors,
                    "text": [r.text for r in records],
                    "metadata": [json.dumps(r.metadata, separators=(",", ":")) for r in records],
                },
                schema=_schema(dims),
            )
            # Delete then add, under the table's write lock: merge_insert writes the JSON column
            # unconverted (lance 13), which json_extract then cannot read. The ids have a BTREE
            # index, so finding the ones that exist is a lookup, not a scan.
            ids = _in_ids([r.id for r in records])
            if table.count_rows(ids) > 0:
                table.delete(ids)
            table.add(batch)
            if not any(idx.columns == ["id"] for idx in table.list_indices()):
                table.create_index("id", config=BTree(), replace=True)
            self._maintain(table, config, context)
        return UpsertResult(upserted=len(request.records))

    def _maintain(self, table: Any, config: LanceConfig, context: Context) -> None:
        """Compact a table written in many pieces; build its indexes, rebuild one once half the table is outside.

        Every write adds a data file and a search opens each one: 100 writes of 1,000 rows made
        queries two to three times slower than the same rows in two files. Compacting
        (LanceDB's ``optimize``: merge the files, add the new rows to the indexes) once there
        are ``compact_fragments`` files keeps that bounded. Rows an index does not cover yet are
        still found (searched exactly), so rebuilding only at doublings keeps bulk ingest fast.
        IVF-flat builds in about a second per 100,000 rows and, re-ranking nothing, keeps recall
        high.
        """
        if table.stats()["fragment_stats"]["num_fragments"] > config.compact_fragments:
            table.optimize()
        rows = table.count_rows()
        by_column = {tuple(idx.columns): idx for idx in table.list_indices()}

        def stale(column: str, floor: int) -> bool:
            index = by_column.get((column,))
            return index is not None and table.index_stats(index.name).num_unindexed_rows > max(floor, rows // 2)

        if ("text",) not in by_column or stale("text", 1_000):
            table.create_index("text", config=FTS(), replace=True)
        if (("vector",) not in by_column and rows >= config.index_threshold) or stale("vector", config.index_threshold):
            context.log.info("indexing %s: %d rows (IVF-flat, cosine)", table.name, rows)
            table.create_index("vector", config=IvfFlat(distance_type="cosine"), replace=True)

    def query(self, request: QueryRequest, config: LanceConfig, context: Context) -> QueryResult:
        """The nearest records (or the fused full-text and vector ranking), filtered before searching."""
        folder = self._folder(config, context)
        table = _tables.get(folder, request.collection)
        if table is None:
            return QueryResult(matches=[])
        dims = _dims(table)
        if len(request.vector) != dims:
            raise self.dimension_error(request.collection, dims, len(request.vector))
        where = where_clause(request.filter)
        mode: Literal["vector", "hybrid"] = request.mode
        if mode == "hybrid":
            if not request.text:
                raise InputInvalid("mode 'hybrid' needs the query's words in 'text'", details={"field": "text"})
            search = table.search(query_type="hybrid").vector(request.vector).text(request.text)
        else:
            search = table.search(request.vector, vector_column_name="vector").distance_type("cosine")
            search = search.nprobes(config.nprobes)
        if where:
            search = search.where(where, prefilter=True)
        # Fusion ranks what each side found: let each side find more than top_k, or a record
        # first by its words but not among the nearest top_k vectors would never be fused.
        fetch = max(request.top_k * 4, 20) if mode == "hybrid" else request.top_k
        rows = search.select(["id", "text", "metadata"]).limit(fetch).to_list()[: request.top_k]
        matches = []
        for row in rows:
            score = float(row["_relevance_score"]) if mode == "hybrid" else 1.0 - float(row["_distance"])
            meta = row["metadata"]
            matches.append(
                QueryMatch(id=row["id"], score=score, text=row["text"], metadata=json.loads(meta) if meta else {})
            )
        return QueryResult(matches=matches)

    def delete(self, request: DeleteRequest, config: LanceConfig, context: Context) -> DeleteResult:
        """Delete by ids and/or filter; both given means records matching both."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        folder = self._folder(config, context)
        table = _tables.get(folder, request.collection)
        if table is None:
            return DeleteResult(deleted=0)
        parts = []
        if request.ids is not None:
            if not request.ids:
                return DeleteResult(deleted=0)
            parts.append(_in_ids(request.ids))
        where = where_clause(request.filter)
        if where:
            parts.append(where)
        clause = " AND ".join(parts) if parts else "true"
        with _tables.lock(folder, request.collection):
            before = table.count_rows()
            table.delete(clause)
            return DeleteResult(deleted=before - table.count_rows())

    def count(self, request: CountRequest, config: LanceConfig, context: Context) -> CountResult:
        """Rows in the table (matching the filter)."""
        table = _tables.get(self._folder(config, context), request.collection)
        if table is None:
            return CountResult(count=0)
        where = where_clause(request.filter)
        return CountResult(count=table.count_rows(where) if where else table.count_rows(), dimensions=_dims(table))
