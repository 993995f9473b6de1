"""What the outcome routes do: the workspace's minimum n, the window, the SQL sums, the
report (the decisions are in `outcomes.py`, the SQL in `outcome_repository.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cxloop_shared.config import ConfigCache
from cxloop_shared.outcomes import (
    ContactResolutionReport,
    OutcomeMetric,
    OutcomesReport,
    ResolutionGroupBy,
)
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring import outcome_repository
from cxloop_scoring.outcomes import (
    DEFAULT_AMOUNTS,
    ContactSlice,
    OutcomeSlice,
    build_outcomes,
    build_resolution,
    contact_touchpoints,
    observation_window,
)
from cxloop_scoring.reports import DEFAULT_MIN_N


@dataclass(frozen=True, slots=True)
class OutcomesQuery:
    """What a caller asks for; None means the documented default."""

    workspace_id: str
    metric: OutcomeMetric
    return_touchpoint: str
    touchpoint: str | None = None
    revenue_touchpoint: str | None = None
    amount: str | None = None
    currency: str | None = None
    days: int = 30
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ContactResolutionQuery:
    """What a caller asks for; `touchpoints` as given (repeated and/or comma-separated)."""

    workspace_id: str
    touchpoints: tuple[str, ...]
    days: int = 7
    start: datetime | None = None
    end: datetime | None = None
    group_by: ResolutionGroupBy | None = None


async def _min_n(configs: ConfigCache, workspace_id: str) -> int:
    config = await configs.get(workspace_id)
    return config.settings.min_n if config else DEFAULT_MIN_N


async def outcomes_report(
    *, session: AsyncSession, configs: ConfigCache, query: OutcomesQuery, now: datetime
) -> OutcomesReport:
    """Per score band: customers, returns and revenue within `days` after answering."""
    start, end = observation_window(start=query.start, end=query.end, days=query.days, now=now)
    where = OutcomeSlice(
        workspace_id=query.workspace_id,
        metric=query.metric,
        touchpoint=query.touchpoint,
        return_touchpoint=query.return_touchpoint,
        revenue_touchpoint=query.revenue_touchpoint or query.return_touchpoint,
        amount=(query.amount,) if query.amount else DEFAULT_AMOUNTS,
        currency=query.currency.upper() if query.currency else None,
        days=query.days,
        start=start,
        end=end,
    )
    rows = await outcome_repository.outcome_rows(session, where, now=now)
    min_n = await _min_n(configs, query.workspace_id)
    return build_outcomes(where=where, rows=rows, min_n=min_n, now=now)


async def contact_resolution_report(
    *, session: AsyncSession, configs: ConfigCache, query: ContactResolutionQuery, now: datetime
) -> ContactResolutionReport:
    """Observed first-contact resolution beside the customer-reported one."""
    touchpoints = contact_touchpoints(query.touchpoints)
    start, end = observation_window(start=query.start, end=query.end, days=query.days, now=now)
    where = ContactSlice(
        workspace_id=query.workspace_id,
        touchpoints=touchpoints,
        days=query.days,
        start=start,
        end=end,
        group_by=query.group_by,
    )
    contacts = await outcome_repository.contact_rows(session, where, now=now)
    reported = await outcome_repository.reported_rows(session, where)
    min_n = await _min_n(configs, query.workspace_id)
    return build_resolution(where=where, contacts=contacts, reported=reported, min_n=min_n, now=now)
