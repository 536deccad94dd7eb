"""Writers in one process take turns on SQLite in the order they asked, whichever API they use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import Connection

from synthral.store.db import Database


async def test_a_transaction_is_not_overtaken_by_writes_queued_after_it(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    await database.migrate()
    order: list[str] = []

    def writes(name: str) -> object:
        def record(connection: Connection) -> None:
            connection.exec_driver_sql("SELECT 1")
            order.append(name)

        return database.write(record)

    async def transaction() -> None:
        async with database.transaction() as connection:
            await connection.exec_driver_sql("SELECT 1")
            order.append("transaction")

    try:
        before = [asyncio.ensure_future(writes(f"w{i}")) for i in range(5)]
        middle = asyncio.ensure_future(transaction())
        after = [asyncio.ensure_future(writes(f"w{i}")) for i in range(5, 10)]
        await asyncio.gather(*before, middle, *after)
    finally:
        await database.close()
    assert order == [*(f"w{i}" for i in range(5)), "transaction", *(f"w{i}" for i in range(5, 10))]
