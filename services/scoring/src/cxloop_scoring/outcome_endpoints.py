"""Scoring's internal API of business outcomes, called by the gateway: what customers of
each score band did afterwards, and first-contact resolution as observed."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.events import Key, utcnow
from cxloop_shared.http import InternalCaller
from cxloop_shared.outcomes import (
    ContactResolutionReport,
    OutcomeMetric,
    OutcomesReport,
    ResolutionGroupBy,
)
from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from cxloop_scoring.deps import ConfigsDep, SessionDep
from cxloop_scoring.outcome_service import (
    ContactResolutionQuery,
    OutcomesQuery,
    contact_resolution_report,
    outcomes_report,
)
from cxloop_scoring.outcomes import MAX_DAYS, MAX_TOUCHPOINTS

router = APIRouter(prefix="/internal/v1", tags=["internal"], dependencies=[InternalCaller])

Start = Annotated[
    AwareDatetime | None, Query(alias="from", description="Default: 30 days before `to`.")
]
End = Annotated[
    AwareDatetime | None,
    Query(alias="to", description="Default: now - `days`, so that nothing is censored."),
]
Currency = Annotated[str, Query(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code.")]


@router.get("/outcomes", response_model=OutcomesReport)
async def get_outcomes(
    session: SessionDep,
    configs: ConfigsDep,
    workspace_id: Key,
    metric: OutcomeMetric,
    return_touchpoint: Key,
    touchpoint: Key | None = None,
    revenue_touchpoint: Key | None = None,
    amount: Key | None = None,
    currency: Currency | None = None,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    start: Start = None,
    end: End = None,
) -> OutcomesReport:
    """Per score band of `metric`: customers, how many came back for `return_touchpoint`
    and what they spent on `revenue_touchpoint` (default: the return touchpoint) within
    `days` after answering. `amount` names the attribute read as the amount (default: the
    first numeric of `order_value`, `amount`)."""
    query = OutcomesQuery(
        workspace_id=workspace_id,
        metric=metric,
        return_touchpoint=return_touchpoint,
        touchpoint=touchpoint,
        revenue_touchpoint=revenue_touchpoint,
        amount=amount,
        currency=currency,
        days=days,
        start=start,
        end=end,
    )
    return await outcomes_report(session=session, configs=configs, query=query, now=utcnow())


@router.get("/contact-resolution", response_model=ContactResolutionReport)
async def get_contact_resolution(
    session: SessionDep,
    configs: ConfigsDep,
    workspace_id: Key,
    touchpoint: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=MAX_TOUCHPOINTS,
            description="Contact touchpoints; repeat the parameter or separate with commas.",
        ),
    ],
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 7,
    start: Start = None,
    end: End = None,
    group_by: ResolutionGroupBy | None = None,
) -> ContactResolutionReport:
    """Observed first-contact resolution (contacts not followed by another within `days`)
    beside the customer-reported one, in total and per queue, agent or channel."""
    query = ContactResolutionQuery(
        workspace_id=workspace_id,
        touchpoints=tuple(touchpoint),
        days=days,
        start=start,
        end=end,
        group_by=group_by,
    )
    return await contact_resolution_report(
        session=session, configs=configs, query=query, now=utcnow()
    )
