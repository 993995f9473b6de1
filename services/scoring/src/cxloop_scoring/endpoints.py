"""Scoring's internal read API, called by the gateway."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.events import Key, utcnow
from cxloop_shared.readmodels import Granularity, MetricsReport
from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from cxloop_scoring.deps import ConfigsDep, InternalCaller, SessionDep
from cxloop_scoring.reports import GroupBy
from cxloop_scoring.service import MetricsQuery, metrics_report

router = APIRouter(prefix="/internal/v1", tags=["internal"], dependencies=[InternalCaller])


@router.get("/metrics", response_model=MetricsReport)
async def get_metrics(
    session: SessionDep,
    configs: ConfigsDep,
    workspace_id: Key,
    touchpoint: Key | None = None,
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="Default: 30 days before `to`.")
    ] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="Default: now.")] = None,
    granularity: Granularity = "total",
    group_by: GroupBy | None = None,
) -> MetricsReport:
    """Metrics of a workspace (or one touchpoint) over a window, from the rollups."""
    query = MetricsQuery(
        workspace_id=workspace_id,
        touchpoint=touchpoint,
        start=start,
        end=end,
        granularity=granularity,
        group_by=group_by,
    )
    return await metrics_report(session=session, configs=configs, query=query, now=utcnow())
