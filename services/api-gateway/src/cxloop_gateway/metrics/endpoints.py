"""Routes of /v1/metrics: scores per touchpoint, answered by scoring."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.events import Key
from cxloop_shared.readmodels import Compare, Dimension, Granularity, MetricsReport
from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from cxloop_gateway.deps import MetricsReader, ScoringDep

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])


@router.get("", response_model=MetricsReport)
async def get_metrics(
    scoring: ScoringDep,
    caller: MetricsReader,
    touchpoint: Key | None = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    granularity: Granularity | None = None,
    group_by: Dimension | None = None,
    compare: Annotated[
        Compare | None,
        Query(description="`previous`: also the window of the same length just before `from`."),
    ] = None,
) -> MetricsReport:
    """Scores with n, intervals and response rate for a touchpoint (or all) over a window,
    optionally grouped by one dimension and compared with the previous window."""
    query = {
        "touchpoint": touchpoint,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "granularity": granularity,
        "group_by": group_by,
        "compare": compare,
    }
    return await scoring.metrics(
        workspace_id=caller.workspace_id,
        query={name: value for name, value in query.items() if value is not None},
    )
