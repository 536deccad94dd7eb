"""LangGraph's checkpointer on the engine's own database, guarded by the run's lease.

A LangGraph ``BaseCheckpointSaver`` over SQLAlchemy: the same tables and code on SQLite and
PostgreSQL, the same connection pool as the rest of the engine. Every write it makes is one
transaction that first checks the run's fencing token, so a worker that lost its lease
(stalled past it, then woke up) cannot record anything; the same transaction carries the
step bookkeeping the run queued (a step's completion, a consumed signal), so progress and
its record are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.engine import state
from synthral.engine.guard import RunGuard
from synthral.store.db import Database
from synthral.store.tables import CHECKPOINT, CHECKPOINT_BLOB, CHECKPOINT_WRITE

__all__ = ["SqlCheckpointSaver"]


class SqlCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on :class:`~synthral.store.db.Database`.

    Runs register a :class:`RunGuard` under their thread id; writes for a thread without a
    guard (tests, tools) are not fenced.
    """

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.guards: dict[str, RunGuard] = {}

    # -- reading -------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names, or the thread's latest."""
        guard = self.guards.get(str(config["configurable"]["thread_id"]))
        if guard is not None and guard.known_empty:
            return None  # a run on its first claim has no checkpoint yet: no need to ask
        async with self.database.engine.connect() as connection:
            return await self._get_tuple(connection, config)

    async def _get_tuple(self, connection: AsyncConnection, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = str(configurable.get("checkpoint_ns", ""))
        query = select(CHECKPOINT).where(CHECKPOINT.c.thread_id == thread_id, CHECKPOINT.c.checkpoint_ns == ns)
        if checkpoint_id := get_checkpoint_id(config):
            query = query.where(CHECKPOINT.c.checkpoint_id == checkpoint_id)
        else:
            query = query.order_by(CHECKPOINT.c.checkpoint_id.desc()).limit(1)
        row = (await connection.execute(query)).first()
        if row is None:
            return None
        return await self._tuple(connection, row)

    async def _tuple(self, connection: AsyncConnection, row: Any) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed((row.type, row.checkpoint))
        versions = checkpoint["channel_versions"]
        values: dict[str, Any] = {}
        if versions:
            blobs = await connection.execute(
                select(CHECKPOINT_BLOB.c.channel, CHECKPOINT_BLOB.c.type, CHECKPOINT_BLOB.c.blob).where(
                    CHECKPOINT_BLOB.c.thread_id == row.thread_id,
                    CHECKPOINT_BLOB.c.checkpoint_ns == row.checkpoint_ns,
                    tuple_(CHECKPOINT_BLOB.c.channel, CHECKPOINT_BLOB.c.version).in_(
                        [(k, str(v)) for k, v in versions.items()]
                    ),
                )
            )
            for channel, type_, blob in blobs:
                if type_ != "empty":
                    values[channel] = self.serde.loads_typed((type_, blob))
        writes = await connection.execute(
            select(
                CHECKPOINT_WRITE.c.task_id, CHECKPOINT_WRITE.c.channel, CHECKPOINT_WRITE.c.type, CHECKPOINT_WRITE.c.blob
            )
            .where(
                CHECKPOINT_WRITE.c.thread_id == row.thread_id,
                CHECKPOINT_WRITE.c.checkpoint_ns == row.checkpoint_ns,
                CHECKPOINT_WRITE.c.checkpoint_id == row.checkpoint_id,
            )
            .order_by(CHECKPOINT_WRITE.c.task_path, CHECKPOINT_WRITE.c.task_id, CHECKPOINT_WRITE.c.idx)
        )
        config: RunnableConfig = {
            "configurable": {
                "thread_id": row.thread_id,
                "checkpoint_ns": row.checkpoint_ns,
                "checkpoint_id": row.checkpoint_id,
            }
        }
        parent: RunnableConfig | None = None
        if row.parent_checkpoint_id:
            parent = {
                "configurable": {
                    "thread_id": row.thread_id,
                    "checkpoint_ns": row.checkpoint_ns,
                    "checkpoint_id": row.parent_checkpoint_id,
                }
            }
        return CheckpointTuple(
            config=config,
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self.serde.loads_typed((row.meta_type, row.meta)),
            parent_config=parent,
            pending_writes=[(task, channel, self.serde.loads_typed((t, b))) for task, channel, t, b in writes],
        )

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """The thread's checkpoints, newest first."""
        if config is None:
            return
        configurable = config["configurable"]
        query = select(CHECKPOINT).where(CHECKPOINT.c.thread_id == str(configurable["thread_id"]))
        if "checkpoint_ns" in configurable:
            query = query.where(CHECKPOINT.c.checkpoint_ns == configurable["checkpoint_ns"])
        if before is not None and (before_id := get_checkpoint_id(before)):
            query = query.where(CHECKPOINT.c.checkpoint_id < before_id)
        query = query.order_by(CHECKPOINT.c.checkpoint_id.desc())
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
            count = 0
            for row in rows:
                item = await self._tuple(connection, row)
                if filter and not all(item.metadata.get(k) == v for k, v in filter.items()):
                    continue
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return

    # -- writing -------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the channel values that changed, fenced by the run's lease."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = str(configurable.get("checkpoint_ns", ""))
        saved = dict(checkpoint)
        values: dict[str, Any] = saved.pop("channel_values")  # type: ignore[assignment]
        blobs = []
        for channel, version in new_versions.items():
            type_, blob = self.serde.dumps_typed(values[channel]) if channel in values else ("empty", b"")
            blobs.append(
                {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "channel": channel,
                    "version": str(version),
                    "type": type_,
                    "blob": blob,
                }
            )
        cp_type, cp_blob = self.serde.dumps_typed(saved)
        meta_type, meta_blob = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        database = self.database
        row = {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": configurable.get("checkpoint_id"),
            "type": cp_type,
            "checkpoint": cp_blob,
            "meta_type": meta_type,
            "meta": meta_blob,
        }

        def write(connection: Connection) -> None:
            state.save_checkpoint(database, connection, row, blobs)

        await self._write(thread_id, write)
        guard = self.guards.get(thread_id)
        if guard is not None:
            guard.known_empty = False
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes (and whatever step bookkeeping is queued), fenced by the lease."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = str(configurable.get("checkpoint_ns", ""))
        checkpoint_id = str(configurable["checkpoint_id"])
        rows = []
        for index, (channel, value) in enumerate(writes):
            type_, blob = self.serde.dumps_typed(value)
            rows.append(
                {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint_id,
                    "task_id": task_id,
                    "idx": WRITES_IDX_MAP.get(channel, index),
                    "channel": channel,
                    "type": type_,
                    "blob": blob,
                    "task_path": task_path,
                }
            )
        if not rows:
            return
        # Special channels (errors, interrupts) may be rewritten; ordinary writes are kept once.
        replace = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        database = self.database

        def write(connection: Connection) -> None:
            state.save_checkpoint_writes(database, connection, rows, replace=replace)

        guard = self.guards.get(thread_id)
        if guard is not None:
            # A run's task writes travel with its next checkpoint (one transaction per step).
            # Lost in a crash before it, the step runs again; its record was queued with them.
            guard.defer(write)
            return
        await self.database.write(write)

    async def flush(self, thread_id: str) -> None:
        """Commit queued bookkeeping that no checkpoint write has carried yet."""
        guard = self.guards.get(thread_id)
        if guard is not None and guard.pending:
            await guard.run(self.database)

    async def _write(self, thread_id: str, fn: Callable[[Connection], None]) -> None:
        guard = self.guards.get(thread_id)
        if guard is not None:
            await guard.run(self.database, fn)
        else:
            await self.database.write(fn)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint of a thread."""
        await self.database.write(lambda connection: state.delete_checkpoints(connection, [thread_id]))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Monotonic, sortable channel versions."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}"

    # The engine is async throughout; the synchronous API is not offered.
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:  # noqa: D102
        raise NotImplementedError("SqlCheckpointSaver is async-only; use ainvoke/astream")

    def list(  # noqa: D102
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        raise NotImplementedError("SqlCheckpointSaver is async-only; use ainvoke/astream")

    def put(  # noqa: D102
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        raise NotImplementedError("SqlCheckpointSaver is async-only; use ainvoke/astream")

    def put_writes(  # noqa: D102
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        raise NotImplementedError("SqlCheckpointSaver is async-only; use ainvoke/astream")
