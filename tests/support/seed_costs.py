"""``python -m tests.support.seed_costs HOME EMAIL``: LLM calls, code runs and OCR pages for a workspace's charts.

The end-to-end suite has no model to call, so it writes what the LLM service, the code
service and the OCR service would have recorded over the last two weeks, for the workspace
of the user with that email, in the home's SQLite database.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from synthral.store.ai_tables import LLM_CALL
from synthral.store.code_tables import CODE_EXECUTION
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, MEMBERSHIP, USER, WORKFLOW


async def seed(home: Path, email: str) -> None:
    database = Database(f"sqlite+aiosqlite:///{home / 'synthral.db'}")
    try:
        async with database.transaction() as connection:
            workspace = (
                await connection.execute(
                    select(MEMBERSHIP.c.workspace_id).join(USER, USER.c.id == MEMBERSHIP.c.user_id)
                    .where(USER.c.email == email)
                )
            ).scalar_one()  # fmt: skip
            now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            flows = {"invoice-triage": 0.9, "support-digest": 0.35, "lead-enrichment": 0.15}
            for name in flows:
                flow = {"id": f"seed-{name}", "name": name, "workspace_id": workspace, "is_active": True, "version": 1}
                await connection.execute(insert(WORKFLOW).values(**flow, created_at=now, updated_at=now))
            for day in range(14):
                at = now - timedelta(days=13 - day)
                for name, share in flows.items():
                    run = f"seed-{name}-{day}"
                    await connection.execute(
                        insert(EXECUTION).values(
                            id=run, workflow_id=f"seed-{name}", workflow_version=1, status="completed", trigger="cron",
                            started_at=at, completed_at=at, fencing_token=1, pause_requested=False,
                            cancel_requested=False, steps_taken=3, retry_count=0,
                        )
                    )  # fmt: skip
                    for model, price in (("gpt-4o", 1.0), ("claude-sonnet", 0.6)):
                        tokens = int((2000 + 400 * (day % 5)) * share * price * 10)
                        await connection.execute(
                            insert(LLM_CALL).values(
                                workspace_id=workspace, execution_id=run, node_id="summarise", provider="llm/openai",
                                model=model, tokens_input=tokens, tokens_output=tokens // 4,
                                usd_cost=tokens * 2.5e-6 * price, latency_ms=800.0, attempts=1, status="ok",
                                created_at=at,
                            )
                        )  # fmt: skip
                    await connection.execute(
                        insert(CODE_EXECUTION).values(
                            id=f"{run}-code", workspace_id=workspace, runtime="code-wasi/python", language="python",
                            code_sha256="0" * 64, workflow_execution_id=run, status="completed", cpu_s=0.4 + share,
                            started_at=at,
                        )
                    )  # fmt: skip
    finally:
        await database.close()


if __name__ == "__main__":
    asyncio.run(seed(Path(sys.argv[1]), sys.argv[2]))
