"""Retrieval: indexes of chunked, embedded documents in a vector store chosen by the router.

An index is a collection in one vector store (a plugin), filled by one embedder (a plugin).
It remembers the embedder, its config and the model id the embedder reported, and refuses
vectors from anything else. Documents are keyed by the caller; ingesting a key again with
changed text replaces its chunks, with equal text does nothing. Deleting a document removes
its chunks from the store and its row. Every query is logged (``rag_query``), every store
choice with its reason (``rag_switch_log``). Indexes belong to a workspace and are only
found through it: one workspace never reaches another's collections.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal, cast

from pydantic import JsonValue
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from synthral.errors import (
    ConfigurationError,
    Conflict,
    EmbedderMismatch,
    InputInvalid,
    NotFound,
)
from synthral.plugins.host import PluginHost
from synthral.services.rag_chunking import ChunkSettings, split_text
from synthral.services.rag_models import (
    DocumentIn,
    DocumentOutcome,
    IndexInfo,
    IndexSpec,
    RagSettings,
    SearchHit,
    SearchResult,
    SwitchLogEntry,
)
from synthral.services.rag_router import Candidate, Decision, RoutingFacts, route
from synthral.services.rag_vectors import Embedded, embedder_packs, for_store, read_answer
from synthral.services.secrets import CredentialService
from synthral.store.db import Database
from synthral.store.rag_tables import RAG_DOCUMENT, RAG_INDEX, RAG_QUERY, RAG_SWITCH_LOG
from synthral.store.tables import new_id, utcnow
from synthral_sdk import CapabilityKind, EmbedResult
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["RAGService"]

log = logging.getLogger("synthral.rag")

EMBED_BATCH: Final = 512
UPSERT_BATCH: Final = 1000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _info(row: RowMapping) -> IndexInfo:
    return IndexInfo(
        id=row["id"],
        name=row["name"],
        store=row["vector_db_type"],
        store_pinned=row["store_pinned"],
        embedder=row["embedder"],
        embedding_model=row["embedding_model"],
        dimensions=row["dimensions"],
        chunking=row["chunking"],
        document_count=row["document_count"],
        chunk_count=row["chunk_count"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _scope(table: Any, workspace_id: str | None) -> Any:
    column = table.c.workspace_id
    return column.is_(None) if workspace_id is None else column == workspace_id


class RAGService:
    """Indexes, ingestion, queries and the router, over the plugin host and the database."""

    def __init__(
        self,
        database: Database,
        plugins: PluginHost,
        *,
        credentials: CredentialService | None = None,
        settings: RagSettings | None = None,
    ) -> None:
        self.database = database
        self.plugins = plugins
        self.credentials = credentials
        self.settings = settings or RagSettings()
        self._locks: dict[str, asyncio.Lock] = {}

    # -- stores and the router ---------------------------------------------------------

    def candidates(self) -> list[Candidate]:
        """The installed vector stores, usable or not (and why not)."""
        found = []
        for entry in self.plugins.catalog():
            if entry.spec.kind != CapabilityKind.VECTOR_STORE:
                continue
            name = entry.spec.name
            required = [str(f) for f in cast(list[object], entry.spec.config_schema.get("required") or [])]
            missing = [f for f in required if f not in self.default_store_config(name, required)]
            usable = not missing or name in self.settings.store_configs
            why = (
                "" if usable else f"not configured (it needs {required}); set SYNTHRAL_RAG_STORES or give store_config"
            )
            found.append(Candidate(entry.ref, name, usable, why))
        return found

    def default_store_config(self, name: str, required: Sequence[str] = ()) -> JSONObject:
        """A store's config for indexes that give none: the operator's, plus the platform's LLM.

        A store that needs an LLM endpoint (``llm_base_url``: LightRAG, Graphiti) gets the one
        the retrieval settings name (``rag.llm_base_url``, ``rag.llm_model``) unless its own
        config names another.
        """
        config: JSONObject = dict(self.settings.store_configs.get(name, {}))
        llm = self.settings.llm
        if llm is not None and "llm_base_url" in required and "llm_base_url" not in config:
            config["llm_base_url"] = llm.base_url
            config.setdefault("llm_model", llm.model)
        return config

    @staticmethod
    def _log_row(
        workspace_id: str | None, facts: RoutingFacts, decision: Decision, index_id: str | None
    ) -> dict[str, Any]:
        log.info("rag router: %s (%s) - %s", decision.store, decision.rule, decision.reason)
        return {
            "id": new_id(),
            "workspace_id": workspace_id,
            "index_id": index_id,
            "decision": decision.store,
            "rule": decision.rule,
            "reason": decision.reason,
            "facts": facts.model_dump(mode="json"),
            "candidates": [{"ref": c.ref, "usable": c.usable} for c in decision.candidates],
            "created_at": utcnow(),
        }

    async def evaluate(
        self,
        workspace_id: str | None,
        facts: RoutingFacts,
        *,
        override: str | None = None,
        index: str | None = None,
    ) -> Decision:
        """Ask the router (for a new index, or what an existing one would get now) and log the decision."""
        index_id = None
        if index is not None:
            row = await self._index_row(workspace_id, index)
            index_id = row["id"]
            if override is None and row["store_pinned"]:
                override = row["vector_db_type"]
        decision = route(facts, self.candidates(), override=override)
        values = self._log_row(workspace_id, facts, decision, index_id)
        await self.database.write(lambda c: c.execute(RAG_SWITCH_LOG.insert().values(**values)))
        return decision

    async def switch_logs(
        self,
        workspace_id: str | None,
        *,
        index: str | None = None,
        limit: int = 50,
        after: tuple[datetime, str] | None = None,
    ) -> tuple[list[SwitchLogEntry], tuple[datetime, str] | None]:
        """The router's decisions in the workspace, newest first (of one index, if named).

        Returns the page and the key of its last entry when more follow (pass it as ``after``).
        """
        log_table = RAG_SWITCH_LOG.c
        query = select(RAG_SWITCH_LOG).where(_scope(RAG_SWITCH_LOG, workspace_id))
        if index is not None:
            row = await self._index_row(workspace_id, index)
            query = query.where(log_table.index_id == row["id"])
        if after is not None:
            query = query.where(
                or_(log_table.created_at < after[0], and_(log_table.created_at == after[0], log_table.id > after[1]))
            )
        query = query.order_by(log_table.created_at.desc(), log_table.id).limit(limit + 1)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        last = (rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return [
            SwitchLogEntry(
                id=r["id"],
                index_id=r["index_id"],
                decision=r["decision"],
                rule=r["rule"],
                reason=r["reason"],
                facts=r["facts"],
                candidates=r["candidates"],
                created_at=r["created_at"],
            )
            for r in rows
        ], last

    # -- indexes -----------------------------------------------------------------------

    async def _index_row(self, workspace_id: str | None, name: str) -> RowMapping:
        async with self.database.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(RAG_INDEX).where(_scope(RAG_INDEX, workspace_id), RAG_INDEX.c.name == name)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(
                f"no RAG index {name!r} in this workspace; create it with POST /api/v1/rag/index",
                details={"index": name},
            )
        return row

    async def get_index(self, workspace_id: str | None, name: str) -> IndexInfo:
        """One index.

        Raises:
            NotFound: No index of that name in the workspace.
        """
        return _info(await self._index_row(workspace_id, name))

    async def list_indexes(
        self, workspace_id: str | None, *, limit: int = 200, after: str | None = None
    ) -> tuple[list[IndexInfo], str | None]:
        """The workspace's indexes by name, from after ``after``; and the last name when more follow."""
        query = select(RAG_INDEX).where(_scope(RAG_INDEX, workspace_id))
        if after is not None:
            query = query.where(RAG_INDEX.c.name > after)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query.order_by(RAG_INDEX.c.name).limit(limit + 1))).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [_info(r) for r in rows], rows[-1]["name"] if more else None

    async def ensure_index(
        self,
        workspace_id: str | None,
        spec: IndexSpec,
        *,
        owner_id: str | None = None,
        facts: RoutingFacts | None = None,
    ) -> tuple[IndexInfo, Decision | None]:
        """The index named in ``spec``, created (store chosen by the router) if it is new.

        Raises:
            EmbedderMismatch: It exists with another embedder or embedder config.
            Conflict: It exists in another store than ``spec.store`` names.
            NoVectorStore: It is new and no store can take it.
        """
        try:
            row = await self._index_row(workspace_id, spec.name)
        except NotFound:
            pass
        else:
            self._check_same(row, spec)
            return _info(row), None
        embedder = spec.embedder or self.settings.default_embedder
        self.plugins.resolve(embedder)  # fails early, naming the plugin to install
        index_id = new_id()
        facts = facts or spec.routing or RoutingFacts()
        decision = route(facts, self.candidates(), override=spec.store)
        store_name = decision.store.split("/", 1)[1]
        now = utcnow()
        row_values = {
            "id": index_id,
            "workspace_id": workspace_id,
            "name": spec.name,
            "owner_id": owner_id,
            "vector_db_type": decision.store,
            "store_config": spec.store_config
            if spec.store_config is not None
            else self.default_store_config(store_name, self._required(decision.store)),
            "store_pinned": spec.store is not None,
            "collection": "rag_" + index_id.replace("-", ""),
            "embedder": embedder,
            "embedder_config": spec.embedder_config or {},
            "embedding_model": None,
            "dimensions": None,
            "chunking": (spec.chunking or ChunkSettings()).model_dump(mode="json"),
            "document_count": 0,
            "chunk_count": 0,
            "size_bytes": 0,
            "created_at": now,
            "updated_at": now,
        }

        def insert(connection: Connection) -> None:
            taken = connection.execute(
                select(RAG_INDEX.c.id).where(_scope(RAG_INDEX, workspace_id), RAG_INDEX.c.name == spec.name)
            ).first()
            if taken is not None:
                raise Conflict(f"the RAG index {spec.name!r} was created meanwhile; send the request again")
            connection.execute(RAG_INDEX.insert().values(**row_values))
            connection.execute(RAG_SWITCH_LOG.insert().values(**self._log_row(workspace_id, facts, decision, index_id)))

        await self.database.write(insert)
        return await self.get_index(workspace_id, spec.name), decision

    async def apply(
        self,
        workspace_id: str | None,
        spec: IndexSpec,
        *,
        documents: Sequence[DocumentIn] = (),
        delete: Sequence[str] = (),
        owner_id: str | None = None,
    ) -> tuple[IndexInfo, Decision | None, list[DocumentOutcome]]:
        """Create the index if new (routing on the documents' sizes and sources), delete, then ingest."""
        sizes = [len(d.text.encode()) for d in documents]
        facts = (spec.routing or RoutingFacts()).model_copy()
        if facts.file_size_bytes is None and sizes:
            facts.file_size_bytes = max(sizes)
        if facts.dataset_size_bytes is None and sizes:
            facts.dataset_size_bytes = sum(sizes)
        facts.ocr_input = facts.ocr_input or any(d.source == "ocr" for d in documents)
        _, decision = await self.ensure_index(workspace_id, spec, owner_id=owner_id, facts=facts)
        outcomes = []
        if delete:
            outcomes += await self.delete_documents(workspace_id, spec.name, delete)
        if documents:
            outcomes += await self.ingest(workspace_id, spec.name, documents)
        return await self.get_index(workspace_id, spec.name), decision, outcomes

    def _check_same(self, row: RowMapping, spec: IndexSpec) -> None:
        name = row["name"]
        if spec.embedder is not None and spec.embedder != row["embedder"]:
            raise EmbedderMismatch(
                f"the RAG index {name!r} is embedded with {row['embedder']}, not {spec.embedder}; "
                "leave 'embedder' out, or create a new index for the other embedder",
                details={"index": name, "embedder": row["embedder"], "asked": spec.embedder},
            )
        if spec.embedder_config is not None and spec.embedder_config != row["embedder_config"]:
            raise EmbedderMismatch(
                f"the RAG index {name!r} was built with another embedder config ({row['embedder_config']}); "
                "leave 'embedder_config' out, or create a new index",
                details={"index": name},
            )
        if spec.store is not None and spec.store not in (row["vector_db_type"], row["vector_db_type"].split("/")[1]):
            raise Conflict(
                f"the RAG index {name!r} lives in {row['vector_db_type']}; an index does not move between stores: "
                "create a new index in the other store and ingest its documents there",
                details={"index": name, "store": row["vector_db_type"]},
            )
        if spec.chunking is not None and spec.chunking.model_dump(mode="json") != row["chunking"]:
            raise Conflict(
                f"the RAG index {name!r} splits documents with {row['chunking']}; leave 'chunking' out or "
                "create a new index",
                details={"index": name},
            )

    async def delete_index(self, workspace_id: str | None, name: str) -> int:
        """Delete an index: its chunks from the store, then its rows. Returns the chunks deleted."""
        row = await self._index_row(workspace_id, name)
        deleted = await self._store_call(row, "delete", {"collection": row["collection"], "filter": {}})
        await self.database.write(lambda c: c.execute(delete(RAG_INDEX).where(RAG_INDEX.c.id == row["id"])))
        return int(cast(int, deleted["deleted"]))

    # -- plugin calls ------------------------------------------------------------------

    async def _secrets(self, workspace_id: str | None, ref: str) -> dict[str, str]:
        """Secrets a store or embedder is granted: the workspace credential ``rag-<capability>``."""
        handle = self.plugins.resolve(ref)
        wanted = handle.spec().secrets
        if not wanted or self.credentials is None or workspace_id is None:
            return {}
        name = "rag-" + ref.split("/", 1)[1]
        try:
            value = await self.credentials.get_value(workspace_id, name)
        except NotFound:
            raise ConfigurationError(
                f"{ref} needs the secrets {wanted}; store them in the workspace credential {name!r} "
                f"(PUT /api/v1/credentials/{name} with an object of those fields)",
                details={"credential": name, "secrets": list(wanted)},
            ) from None
        fields = value if isinstance(value, dict) else {wanted[0]: value}
        return {k: str(v) for k, v in fields.items() if k in wanted}

    def _required(self, ref: str) -> list[str]:
        return [
            str(f) for f in cast(list[object], self.plugins.resolve(ref).spec().config_schema.get("required") or [])
        ]

    async def _store_call(self, row: RowMapping, operation: str, payload: JSONObject) -> JSONObject:
        ref = row["vector_db_type"]
        llm = self.settings.llm
        platform_llm = llm is not None and row["store_config"].get("llm_base_url") == llm.base_url
        try:
            secrets = await self._secrets(row["workspace_id"], ref)
        except ConfigurationError:
            if not platform_llm:
                raise
            secrets = {}  # the platform's LLM endpoint: its key comes from the retrieval settings
        if platform_llm and llm is not None and llm.api_key:
            secrets.setdefault("llm_api_key", llm.api_key)
        return await self.plugins.invoke(
            ref,
            payload,
            config=row["store_config"],
            operation=operation,
            context=self.plugins.context(secrets=secrets),
        )

    async def embed(
        self,
        embedder: str,
        config: JSONObject,
        texts: Sequence[str],
        *,
        purpose: Literal["document", "query"] = "document",
        workspace_id: str | None = None,
        packed: bool = False,
    ) -> Embedded:
        """Embed ``texts`` in batches with one embedder; one model id and dimension for all.

        ``packed``: the vectors as packed strings when the embedder writes them, to hand on to a store.
        """
        secrets = await self._secrets(workspace_id, embedder)
        packed = packed and embedder_packs(self.plugins, embedder)
        vectors: list[JSONValue] = []
        model, dims = "", 0
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            payload: JSONObject = {"texts": cast(JSONValue, batch), "purpose": purpose}
            if packed:
                payload["vector_encoding"] = "f32"
            out = await self.plugins.invoke(
                embedder, payload, config=config, operation="embed", context=self.plugins.context(secrets=secrets)
            )
            result = read_answer(out, embedder, len(batch)) if packed else Embedded.of(EmbedResult.model_validate(out))
            if model and result.model != model:
                raise EmbedderMismatch(f"{embedder} changed its model mid-way ({model} then {result.model})")
            model, dims = result.model, result.dimensions
            vectors.extend(result.vectors)
        return Embedded(model, dims, vectors)

    @staticmethod
    def _check_model(row: RowMapping, result: EmbedResult | Embedded) -> None:
        known = row["embedding_model"]
        if known is not None and (result.model != known or result.dimensions != row["dimensions"]):
            raise EmbedderMismatch(
                f"the RAG index {row['name']!r} holds vectors of {known} ({row['dimensions']} dimensions) but "
                f"{row['embedder']} now gives {result.model} ({result.dimensions}); its model files changed. "
                "Restore them, or create a new index and ingest the documents again",
                details={"index": row["name"], "model": known, "got": result.model},
            )

    # -- documents ---------------------------------------------------------------------

    def _lock(self, index_id: str) -> asyncio.Lock:
        return self._locks.setdefault(index_id, asyncio.Lock())

    async def ingest(
        self, workspace_id: str | None, index: str, documents: Sequence[DocumentIn]
    ) -> list[DocumentOutcome]:
        """Chunk, embed and store documents; a known key with changed text replaces its chunks."""
        row = await self._index_row(workspace_id, index)
        settings = ChunkSettings.model_validate(row["chunking"])
        outcomes = []
        async with self._lock(row["id"]):
            for document in documents:
                chunks = await asyncio.to_thread(split_text, document.text, settings)
                texts = [c.text for c in chunks]
                extra: list[JSONObject] = [{"start": c.start, **cast(JSONObject, c.headings)} for c in chunks]
                outcomes.append(
                    await self._put_document(
                        row["id"], workspace_id, document=document, texts=texts, extra=extra, embedded=None
                    )
                )
        return outcomes

    async def upsert_chunks(
        self,
        workspace_id: str | None,
        index: str,
        document: DocumentIn,
        chunks: Sequence[str],
        embedded: EmbedResult | None,
    ) -> DocumentOutcome:
        """Store a document already split (and maybe embedded) by workflow nodes.

        Raises:
            EmbedderMismatch: ``embedded`` comes from another model than the index's.
            InputInvalid: The numbers of chunks and vectors differ.
        """
        row = await self._index_row(workspace_id, index)
        if embedded is not None and len(embedded.vectors) != len(chunks):
            raise InputInvalid(
                f"{len(chunks)} chunks but {len(embedded.vectors)} vectors; embed exactly the chunks given",
                details={"chunks": len(chunks), "vectors": len(embedded.vectors)},
            )
        async with self._lock(row["id"]):
            return await self._put_document(
                row["id"],
                workspace_id,
                document=document,
                texts=list(chunks),
                extra=None,
                embedded=Embedded.of(embedded) if embedded is not None else None,
            )

    async def _put_document(
        self,
        index_id: str,
        workspace_id: str | None,
        *,
        document: DocumentIn,
        texts: list[str],
        extra: list[JSONObject] | None,
        embedded: Embedded | None,
    ) -> DocumentOutcome:
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(RAG_INDEX).where(RAG_INDEX.c.id == index_id))).mappings().one()
            old = (
                (
                    await connection.execute(
                        select(RAG_DOCUMENT).where(
                            RAG_DOCUMENT.c.index_id == index_id, RAG_DOCUMENT.c.key == document.key
                        )
                    )
                )
                .mappings()
                .first()
            )
        digest = _sha(document.text + "\0" + json.dumps(document.metadata, sort_keys=True))
        if old is not None and old["content_sha256"] == digest and embedded is None:
            return DocumentOutcome(key=document.key, status="unchanged", chunks=old["chunk_count"])
        if embedded is None:
            embedded = (
                await self.embed(row["embedder"], row["embedder_config"], texts, workspace_id=workspace_id, packed=True)
                if texts
                else None
            )
        if embedded is not None:
            self._check_model(row, embedded)
        document_id = old["id"] if old is not None else new_id()
        records: list[JSONObject] = [
            {
                "id": f"{document_id}:{i}",
                "vector": vector,
                "text": text,
                "metadata": {
                    **document.metadata,
                    **(extra[i] if extra else {}),
                    "document_id": document_id,
                    "document_key": document.key,
                    "chunk": i,
                },
            }
            for i, (text, vector) in enumerate(
                zip(
                    texts,
                    for_store(self.plugins, row["vector_db_type"], embedded.vectors) if embedded else [],
                    strict=True,
                )
            )
        ]
        # New chunks overwrite the old ids first, then the old ones past the new count go:
        # at every moment the store holds a whole version of each chunk id.
        for start in range(0, len(records), UPSERT_BATCH):
            await self._store_call(
                row,
                "upsert",
                {"collection": row["collection"], "records": cast(JSONObject, records[start : start + UPSERT_BATCH])},
            )
        old_count = old["chunk_count"] if old is not None else 0
        if old_count > len(records):
            stale = [f"{document_id}:{i}" for i in range(len(records), old_count)]
            await self._store_call(row, "delete", {"collection": row["collection"], "ids": cast(JSONObject, stale)})
        now = utcnow()
        size = len(document.text.encode())

        def save(connection: Connection) -> None:
            values = {
                "content": document.text,
                "content_sha256": digest,
                "metadata": document.metadata,
                "source": document.source,
                "chunk_count": len(records),
                "updated_at": now,
            }
            if old is None:
                connection.execute(
                    RAG_DOCUMENT.insert().values(
                        id=document_id, index_id=index_id, key=document.key, created_at=now, **values
                    )
                )
            else:
                connection.execute(update(RAG_DOCUMENT).where(RAG_DOCUMENT.c.id == document_id).values(**values))
            index_values: dict[str, Any] = {
                "document_count": RAG_INDEX.c.document_count + (0 if old is not None else 1),
                "chunk_count": RAG_INDEX.c.chunk_count + len(records) - old_count,
                "size_bytes": RAG_INDEX.c.size_bytes + size - (len(old["content"].encode()) if old is not None else 0),
                "updated_at": now,
            }
            if embedded is not None and row["embedding_model"] is None:
                index_values["embedding_model"] = embedded.model
                index_values["dimensions"] = embedded.dimensions
            connection.execute(update(RAG_INDEX).where(RAG_INDEX.c.id == index_id).values(**index_values))

        await self.database.write(save)
        return DocumentOutcome(key=document.key, status="added" if old is None else "replaced", chunks=len(records))

    async def delete_documents(
        self, workspace_id: str | None, index: str, keys: Sequence[str]
    ) -> list[DocumentOutcome]:
        """Remove documents: their chunks from the store, then their rows."""
        row = await self._index_row(workspace_id, index)
        outcomes = []
        async with self._lock(row["id"]):
            for key in keys:
                async with self.database.engine.connect() as connection:
                    doc = (
                        (
                            await connection.execute(
                                select(RAG_DOCUMENT).where(
                                    RAG_DOCUMENT.c.index_id == row["id"], RAG_DOCUMENT.c.key == key
                                )
                            )
                        )
                        .mappings()
                        .first()
                    )
                if doc is None:
                    outcomes.append(DocumentOutcome(key=key, status="missing"))
                    continue
                await self._store_call(
                    row, "delete", {"collection": row["collection"], "filter": {"document_id": doc["id"]}}
                )

                def forget(connection: Connection, doc: RowMapping = doc) -> None:
                    connection.execute(delete(RAG_DOCUMENT).where(RAG_DOCUMENT.c.id == doc["id"]))
                    connection.execute(
                        update(RAG_INDEX)
                        .where(RAG_INDEX.c.id == row["id"])
                        .values(
                            document_count=RAG_INDEX.c.document_count - 1,
                            chunk_count=RAG_INDEX.c.chunk_count - doc["chunk_count"],
                            size_bytes=RAG_INDEX.c.size_bytes - len(doc["content"].encode()),
                            updated_at=utcnow(),
                        )
                    )

                await self.database.write(forget)
                outcomes.append(DocumentOutcome(key=key, status="deleted", chunks=doc["chunk_count"]))
        return outcomes

    # -- queries -----------------------------------------------------------------------

    async def query(
        self,
        workspace_id: str | None,
        index: str,
        text: str,
        *,
        top_k: int = 5,
        filter: dict[str, Any] | None = None,
        mode: Literal["vector", "hybrid"] = "vector",
        embedder: str | None = None,
        user_id: str | None = None,
    ) -> SearchResult:
        """The chunks nearest to ``text``, best first; logged in ``rag_query``.

        Raises:
            EmbedderMismatch: ``embedder`` is not the index's, or the embedder's model changed.
        """
        row = await self._index_row(workspace_id, index)
        if embedder is not None and embedder != row["embedder"]:
            raise EmbedderMismatch(
                f"the RAG index {index!r} is embedded with {row['embedder']}; a query embedded with {embedder} "
                "would compare unrelated vectors. Leave 'embedder' out to use the index's own",
                details={"index": index, "embedder": row["embedder"], "asked": embedder},
            )
        started = time.perf_counter()
        hits: list[SearchHit] = []
        if row["embedding_model"] is not None:
            embedded = await self.embed(
                row["embedder"], row["embedder_config"], [text], purpose="query", workspace_id=workspace_id
            )
            self._check_model(row, embedded)
            payload: JSONObject = {
                "collection": row["collection"],
                "vector": cast(JSONObject, embedded.vectors[0]),
                "top_k": top_k,
                "text": text,
                "mode": mode,
            }
            if filter:
                payload["filter"] = filter
            out = await self._store_call(row, "query", payload)
            for match in cast(list[JSONObject], out["matches"]):
                meta = cast(dict[str, JsonValue], match.get("metadata") or {})
                hits.append(
                    SearchHit(
                        chunk_id=str(match["id"]),
                        document_key=str(meta.get("document_key", "")),
                        chunk=int(cast(int, meta.get("chunk", 0))),
                        score=float(cast(float, match["score"])),
                        text=str(match.get("text") or ""),
                        metadata={k: v for k, v in meta.items() if k not in {"document_id", "document_key", "chunk"}},
                    )
                )
        latency = (time.perf_counter() - started) * 1000
        logged = {
            "id": new_id(),
            "index_id": row["id"],
            "user_id": user_id,
            "query_text": text,
            "top_k": top_k,
            "filter": filter,
            "results": [{"id": h.chunk_id, "document": h.document_key, "score": h.score} for h in hits],
            "latency_ms": latency,
            "created_at": utcnow(),
        }
        await self.database.write(lambda c: c.execute(RAG_QUERY.insert().values(**logged)))
        return SearchResult(index=index, embedding_model=row["embedding_model"], hits=hits, latency_ms=latency)

    async def query_count(self, workspace_id: str | None, index: str) -> int:
        """How many queries of an index were logged."""
        row = await self._index_row(workspace_id, index)
        async with self.database.engine.connect() as connection:
            return int(
                (
                    await connection.execute(
                        select(func.count()).select_from(RAG_QUERY).where(RAG_QUERY.c.index_id == row["id"])
                    )
                ).scalar_one()
            )

    async def store_count(self, workspace_id: str | None, index: str, filter: JSONObject | None = None) -> int:
        """How many chunks the index's store holds for it (matching ``filter``)."""
        row = await self._index_row(workspace_id, index)
        payload: JSONObject = {"collection": row["collection"]}
        if filter:
            payload["filter"] = filter
        return int(cast(int, (await self._store_call(row, "count", payload))["count"]))
