"""Cost analytics: what a workspace's runs spent, by day, workflow, execution or model.

Three sources, each already recorded where the spending happens: LLM calls (tokens and the
price table's dollars, ``llm_call``), code runs (CPU seconds charged, ``code_execution``) and
OCR (pages read, ``ocr_document`` by ``ocr_job``). A record belongs to a workspace when it
names the workspace, or when it was made by a run of one of the workspace's workflows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.sql import Select

from synthral.engine.schedules import as_utc
from synthral.errors import InputInvalid
from synthral.store.ai_tables import LLM_CALL
from synthral.store.code_tables import CODE_EXECUTION
from synthral.store.db import Database
from synthral.store.ocr_tables import OCR_DOCUMENT, OCR_JOB
from synthral.store.tables import EXECUTION, WORKFLOW

__all__ = ["MAX_RANGE_DAYS", "CostAnalytics", "CostReport", "CostRow", "GroupBy"]


MAX_RANGE_DAYS: Final = 366
_TOP: Final = 200


class GroupBy(StrEnum):
    """How costs are grouped."""

    DAY = "day"
    WORKFLOW = "workflow"
    EXECUTION = "execution"
    MODEL = "model"


@dataclass
class CostRow:
    """One group's spending."""

    key: str
    label: str
    llm_usd: float = 0.0
    llm_calls: int = 0
    unpriced_calls: int = 0
    tokens_input: int = 0
    tokens_output: int = 0
    code_cpu_seconds: float = 0.0
    ocr_pages: int = 0

    def add(self, other: CostRow) -> None:
        """Add another row's figures to this one."""
        self.llm_usd += other.llm_usd
        self.llm_calls += other.llm_calls
        self.unpriced_calls += other.unpriced_calls
        self.tokens_input += other.tokens_input
        self.tokens_output += other.tokens_output
        self.code_cpu_seconds += other.code_cpu_seconds
        self.ocr_pages += other.ocr_pages


@dataclass
class CostReport:
    """A workspace's spending over a period, grouped."""

    group_by: str
    since: str
    until: str
    items: list[CostRow]
    totals: CostRow = field(default_factory=lambda: CostRow("total", "total"))

    def to_json(self) -> dict[str, Any]:
        """As the API answers it."""
        return {
            "group_by": self.group_by,
            "since": self.since,
            "until": self.until,
            "items": [asdict(row) for row in self.items],
            "totals": asdict(self.totals),
        }


def _day(column: Any) -> ColumnElement[Any]:
    return func.date(column)


class CostAnalytics:
    """Cost reports over the records the host keeps."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def report(
        self,
        workspace_id: str,
        group_by: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> CostReport:
        """The workspace's spending from ``since`` (default 30 days ago) to ``until`` (default now).

        Raises:
            InputInvalid: An unknown grouping, ``since`` after ``until``, or a range over a year.
        """
        try:
            grouping = GroupBy(group_by)
        except ValueError:
            raise InputInvalid(
                f"cannot group costs by {group_by!r}; use one of: {', '.join(g.value for g in GroupBy)}",
                details={"field": "group_by"},
            ) from None
        end = as_utc(until) if until is not None else (now or datetime.now(UTC))
        start = as_utc(since) if since is not None else end - timedelta(days=30)
        if start >= end:
            raise InputInvalid("since must be before until; swap them", details={"field": "since"})
        if end - start > timedelta(days=MAX_RANGE_DAYS):
            raise InputInvalid(
                f"the range is over {MAX_RANGE_DAYS} days; ask for a shorter one (since, until)",
                details={"field": "since"},
            )
        mine = select(EXECUTION.c.id).where(
            EXECUTION.c.workflow_id.in_(select(WORKFLOW.c.id).where(WORKFLOW.c.workspace_id == workspace_id))
        )
        rows: dict[str, CostRow] = {}
        async with self.database.engine.connect() as connection:
            for query, kind in self._queries(grouping, workspace_id, mine, start, end):
                for record in (await connection.execute(query)).all():
                    key = _key(record.key)
                    row = rows.setdefault(key, CostRow(key, key))
                    if kind == "llm":
                        row.llm_usd += float(record.usd or 0.0)
                        row.llm_calls += int(record.calls)
                        row.unpriced_calls += int(record.unpriced or 0)
                        row.tokens_input += int(record.tin or 0)
                        row.tokens_output += int(record.tout or 0)
                    elif kind == "code":
                        row.code_cpu_seconds += float(record.cpu or 0.0)
                    else:
                        row.ocr_pages += int(record.pages or 0)
            if grouping is GroupBy.WORKFLOW and rows:
                names: dict[str, str] = dict(
                    (
                        await connection.execute(
                            select(WORKFLOW.c.id, WORKFLOW.c.name).where(WORKFLOW.c.id.in_(list(rows)))
                        )
                    ).all()
                )
                for key, row in rows.items():
                    row.label = str(names.get(key, key))
        items = list(rows.values())
        if grouping is GroupBy.DAY:
            items.sort(key=lambda r: r.key)
        else:
            items.sort(key=lambda r: (-r.llm_usd, -r.code_cpu_seconds, -r.ocr_pages, r.key))
            items = items[:_TOP]
        totals = CostRow("total", "total")
        for row in rows.values():
            totals.add(row)
        return CostReport(grouping.value, start.isoformat(), end.isoformat(), items, totals)

    def _queries(
        self, grouping: GroupBy, workspace_id: str, mine: Select[Any], start: datetime, end: datetime
    ) -> list[tuple[Select[Any], str]]:
        llm_owned = or_(LLM_CALL.c.workspace_id == workspace_id, LLM_CALL.c.execution_id.in_(mine))
        llm_window = (LLM_CALL.c.created_at >= start, LLM_CALL.c.created_at < end)
        llm_sums = (
            func.sum(LLM_CALL.c.usd_cost).label("usd"),
            func.count().label("calls"),
            func.sum(case((LLM_CALL.c.usd_cost.is_(None), 1), else_=0)).label("unpriced"),
            func.sum(LLM_CALL.c.tokens_input).label("tin"),
            func.sum(LLM_CALL.c.tokens_output).label("tout"),
        )
        code_owned = or_(
            CODE_EXECUTION.c.workspace_id == workspace_id, CODE_EXECUTION.c.workflow_execution_id.in_(mine)
        )
        code_window = (CODE_EXECUTION.c.started_at >= start, CODE_EXECUTION.c.started_at < end)
        ocr_owned = or_(OCR_JOB.c.workspace_id == workspace_id, OCR_JOB.c.execution_id.in_(mine))
        ocr_window = (OCR_JOB.c.created_at >= start, OCR_JOB.c.created_at < end)
        ocr_from = OCR_DOCUMENT.join(OCR_JOB, OCR_DOCUMENT.c.job_id == OCR_JOB.c.id)
        pages = func.sum(OCR_DOCUMENT.c.page_count).label("pages")
        if grouping is GroupBy.MODEL:
            key = LLM_CALL.c.model
            return [(select(key.label("key"), *llm_sums).where(llm_owned, *llm_window).group_by(key), "llm")]
        if grouping is GroupBy.DAY:
            llm_key, code_key, ocr_key = (
                _day(LLM_CALL.c.created_at),
                _day(CODE_EXECUTION.c.started_at),
                _day(OCR_JOB.c.created_at),
            )
            return [
                (select(llm_key.label("key"), *llm_sums).where(llm_owned, *llm_window).group_by(llm_key), "llm"),
                (
                    select(code_key.label("key"), func.sum(CODE_EXECUTION.c.cpu_s).label("cpu"))
                    .where(code_owned, *code_window)
                    .group_by(code_key),
                    "code",
                ),
                (
                    select(ocr_key.label("key"), pages)
                    .select_from(ocr_from)
                    .where(ocr_owned, *ocr_window)
                    .group_by(ocr_key),
                    "ocr",
                ),
            ]
        if grouping is GroupBy.EXECUTION:
            return [
                (
                    select(LLM_CALL.c.execution_id.label("key"), *llm_sums)
                    .where(llm_owned, *llm_window, LLM_CALL.c.execution_id.is_not(None))
                    .group_by(LLM_CALL.c.execution_id),
                    "llm",
                ),
                (
                    select(
                        CODE_EXECUTION.c.workflow_execution_id.label("key"),
                        func.sum(CODE_EXECUTION.c.cpu_s).label("cpu"),
                    )
                    .where(code_owned, *code_window, CODE_EXECUTION.c.workflow_execution_id.is_not(None))
                    .group_by(CODE_EXECUTION.c.workflow_execution_id),
                    "code",
                ),
                (
                    select(OCR_JOB.c.execution_id.label("key"), pages)
                    .select_from(ocr_from)
                    .where(ocr_owned, *ocr_window, OCR_JOB.c.execution_id.is_not(None))
                    .group_by(OCR_JOB.c.execution_id),
                    "ocr",
                ),
            ]
        # by workflow: through the run that made the record
        return [
            (
                select(EXECUTION.c.workflow_id.label("key"), *llm_sums)
                .select_from(LLM_CALL.join(EXECUTION, EXECUTION.c.id == LLM_CALL.c.execution_id))
                .where(llm_owned, *llm_window)
                .group_by(EXECUTION.c.workflow_id),
                "llm",
            ),
            (
                select(EXECUTION.c.workflow_id.label("key"), func.sum(CODE_EXECUTION.c.cpu_s).label("cpu"))
                .select_from(CODE_EXECUTION.join(EXECUTION, EXECUTION.c.id == CODE_EXECUTION.c.workflow_execution_id))
                .where(code_owned, *code_window)
                .group_by(EXECUTION.c.workflow_id),
                "code",
            ),
            (
                select(EXECUTION.c.workflow_id.label("key"), pages)
                .select_from(ocr_from.join(EXECUTION, EXECUTION.c.id == OCR_JOB.c.execution_id))
                .where(ocr_owned, *ocr_window)
                .group_by(EXECUTION.c.workflow_id),
                "ocr",
            ),
        ]


def _key(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)[:10] if value is not None and hasattr(value, "isoformat") else str(value)
