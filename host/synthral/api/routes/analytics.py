"""``GET /analytics/costs``: what the workspace's runs spent (LLM, code CPU, OCR pages), grouped."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from synthral.api.access import Owner
from synthral.api.state import ServerState, server_of

__all__ = ["router"]

router = APIRouter(prefix="/analytics", tags=["analytics"])
Server = Annotated[ServerState, Depends(server_of)]


class CostRowOut(BaseModel):
    """One group's spending."""

    key: str
    label: str
    llm_usd: float
    llm_calls: int
    unpriced_calls: int
    tokens_input: int
    tokens_output: int
    code_cpu_seconds: float
    ocr_pages: int


class CostReportOut(BaseModel):
    """Spending over a period; ``items`` grouped as asked, ``totals`` over all of them."""

    group_by: str
    since: str
    until: str
    items: list[CostRowOut]
    totals: CostRowOut


@router.get("/costs", response_model=CostReportOut)
async def costs(
    access: Owner,
    server: Server,
    group_by: Annotated[str, Query(max_length=16, description="day, workflow, execution or model.")] = "day",
    since: Annotated[datetime | None, Query(description="From (ISO 8601); default 30 days before until.")] = None,
    until: Annotated[datetime | None, Query(description="Until (ISO 8601); default now.")] = None,
) -> CostReportOut:
    """LLM tokens and dollars (by the price table), code CPU seconds and OCR pages."""
    report = await server.costs.report(access.workspace_id, group_by, since=since, until=until)
    return CostReportOut.model_validate(report.to_json())
