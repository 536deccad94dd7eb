"""Cost analytics on both backends: LLM dollars and tokens, code CPU seconds, OCR pages, grouped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from synthral.errors import InputInvalid
from synthral.services.analytics import CostAnalytics
from synthral.store.ai_tables import LLM_CALL
from synthral.store.code_tables import CODE_EXECUTION
from synthral.store.db import Database
from synthral.store.ocr_tables import OCR_DOCUMENT, OCR_JOB
from synthral.store.tables import EXECUTION, WORKFLOW, WORKSPACE

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DAY1 = NOW - timedelta(days=2)
DAY2 = NOW - timedelta(days=1)


async def _seed(database: Database) -> dict[str, str]:
    """Two workspaces; acme has two workflows with runs that spent on all three meters."""
    ids = {"acme": "ws-acme", "globex": "ws-globex", "wf_a": "wf-a", "wf_b": "wf-b", "wf_g": "wf-g"}
    ids |= {"run_a1": "run-a1", "run_a2": "run-a2", "run_b": "run-b", "run_g": "run-g"}
    async with database.transaction() as connection:
        for space, name in (("acme", "Acme"), ("globex", "Globex")):
            await connection.execute(insert(WORKSPACE).values(id=ids[space], slug=space, name=name, created_at=NOW))
        for key, name, space in (("wf_a", "invoices", "acme"), ("wf_b", "triage", "acme"), ("wf_g", "other", "globex")):
            await connection.execute(insert(WORKFLOW).values(id=ids[key], name=name, workspace_id=ids[space],
                                                             created_at=NOW, updated_at=NOW))  # fmt: skip
        for run, flow, at in (("run_a1", "wf_a", DAY1), ("run_a2", "wf_a", DAY2), ("run_b", "wf_b", DAY2),
                              ("run_g", "wf_g", DAY2)):  # fmt: skip
            await connection.execute(insert(EXECUTION).values(id=ids[run], workflow_id=ids[flow], workflow_version=1,
                                                              status="completed", started_at=at))  # fmt: skip
        # A workflow's LLM calls may not name the workspace: the run they belong to does.
        for run, model, tin, tout, usd, at, space in (
            ("run_a1", "gpt-4o", 1000, 200, 0.5, DAY1, None),
            ("run_a2", "gpt-4o", 3000, 600, 1.5, DAY2, "acme"),
            ("run_b", "claude", 500, 100, None, DAY2, None),  # a model with no price
            ("run_g", "gpt-4o", 9999, 9999, 99.0, DAY2, "globex"),
        ):
            await connection.execute(
                insert(LLM_CALL).values(
                    workspace_id=ids[space] if space else None, execution_id=ids[run], provider="llm/openai",
                    model=model, tokens_input=tin, tokens_output=tout, usd_cost=usd, latency_ms=10.0,
                    attempts=1, status="ok", created_at=at,
                )
            )  # fmt: skip
        code = {"runtime": "code-wasi/python", "language": "python", "status": "completed"}
        for space, run, sha, cpu, at in ((None, "run_a1", "x", 2.5, DAY1), ("acme", None, "y", 1.0, DAY2),
                                         ("globex", None, "z", 50.0, DAY2)):  # fmt: skip
            await connection.execute(insert(CODE_EXECUTION).values(
                **code, workspace_id=ids[space] if space else None, workflow_execution_id=ids[run] if run else None,
                code_sha256=sha, cpu_s=cpu, started_at=at))  # fmt: skip
        await connection.execute(insert(OCR_JOB).values(id="job-b", execution_id=ids["run_b"], status="completed",
                                                        created_at=DAY2))  # fmt: skip
        await connection.execute(insert(OCR_JOB).values(id="job-g", workspace_id=ids["globex"], status="completed",
                                                        created_at=DAY2))  # fmt: skip
        for job, position, pages in (("job-b", 0, 3), ("job-b", 1, 4), ("job-g", 0, 100)):
            await connection.execute(insert(OCR_DOCUMENT).values(job_id=job, position=position, blob="sha256:x", size=1,
                                                                 media_type="image/png", status="completed",
                                                                 page_count=pages))  # fmt: skip
    return ids


async def test_costs_by_day_sum_every_meter_of_the_workspace_only(database: Database) -> None:
    ids = await _seed(database)
    report = await CostAnalytics(database).report(ids["acme"], "day", now=NOW)
    days = {row.key: row for row in report.items}
    assert list(days) == [DAY1.date().isoformat(), DAY2.date().isoformat()]
    first, second = days[DAY1.date().isoformat()], days[DAY2.date().isoformat()]
    assert (first.llm_usd, first.tokens_input, first.code_cpu_seconds, first.ocr_pages) == (0.5, 1000, 2.5, 0)
    assert (second.llm_usd, second.llm_calls, second.unpriced_calls, second.ocr_pages) == (1.5, 2, 1, 7)
    assert second.code_cpu_seconds == 1.0
    totals = report.totals
    assert (totals.llm_usd, totals.tokens_output, totals.code_cpu_seconds, totals.ocr_pages) == (2.0, 900, 3.5, 7)


async def test_costs_by_workflow_execution_and_model(database: Database) -> None:
    ids = await _seed(database)
    analytics = CostAnalytics(database)
    flows = {row.key: row for row in (await analytics.report(ids["acme"], "workflow", now=NOW)).items}
    assert set(flows) == {ids["wf_a"], ids["wf_b"]}
    assert (flows[ids["wf_a"]].label, flows[ids["wf_a"]].llm_usd, flows[ids["wf_a"]].code_cpu_seconds) == (
        "invoices", 2.0, 2.5,
    )  # fmt: skip
    assert (flows[ids["wf_b"]].unpriced_calls, flows[ids["wf_b"]].ocr_pages) == (1, 7)
    runs = (await analytics.report(ids["acme"], "execution", now=NOW)).items
    assert [row.key for row in runs] == [ids["run_a2"], ids["run_a1"], ids["run_b"]]  # most expensive first
    models = {row.key: row for row in (await analytics.report(ids["acme"], "model", now=NOW)).items}
    assert set(models) == {"gpt-4o", "claude"} and models["gpt-4o"].tokens_input == 4000


async def test_the_range_limits_what_is_counted(database: Database) -> None:
    ids = await _seed(database)
    report = await CostAnalytics(database).report(ids["acme"], "day", since=DAY2 - timedelta(hours=1), until=NOW)
    assert [row.key for row in report.items] == [DAY2.date().isoformat()]


async def test_bad_groupings_and_ranges_are_refused_with_the_fix(database: Database) -> None:
    analytics = CostAnalytics(database)
    with pytest.raises(InputInvalid, match="day, workflow, execution, model"):
        await analytics.report("w", "week")
    with pytest.raises(InputInvalid, match="swap"):
        await analytics.report("w", "day", since=NOW, until=NOW - timedelta(days=1))
    with pytest.raises(InputInvalid, match="shorter"):
        await analytics.report("w", "day", since=NOW - timedelta(days=400), until=NOW)
