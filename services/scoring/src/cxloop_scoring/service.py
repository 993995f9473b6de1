"""Reading metrics: a workspace's settings, the window, the rollup sums, the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cxloop_shared.config import ConfigCache
from cxloop_shared.readmodels import Granularity, MetricsReport
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring import repository
from cxloop_scoring.reports import (
    DEFAULT_MIN_N,
    DEFAULT_TIMEZONE,
    GroupBy,
    Slice,
    build_report,
    resolve_window,
)


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """What a caller asks for; `start`/`end` None mean the default window."""

    workspace_id: str
    touchpoint: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    granularity: Granularity = "total"
    group_by: GroupBy | None = None


async def metrics_report(
    *, session: AsyncSession, configs: ConfigCache, query: MetricsQuery, now: datetime
) -> MetricsReport:
    """The metrics report of `query`, read from rollups in the workspace's time zone."""
    config = await configs.get(query.workspace_id)
    timezone = config.timezone if config else DEFAULT_TIMEZONE
    min_n = config.settings.min_n if config else DEFAULT_MIN_N
    start, end = resolve_window(start=query.start, end=query.end, now=now)
    where = Slice(
        workspace_id=query.workspace_id,
        touchpoint=query.touchpoint,
        start=start,
        end=end,
        timezone=timezone,
        granularity=query.granularity,
        group_by=query.group_by,
    )
    scores = await repository.score_rows(session, where)
    sent = await repository.sent_rows(session, where)
    return build_report(where=where, min_n=min_n, scores=scores, sent=sent)
