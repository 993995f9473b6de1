"""Routes of /v1/outcomes (what customers of each score band did afterwards) and
/v1/contact-resolution (first-contact resolution as observed and as reported), answered
by scoring."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.events import Key
from cxloop_shared.outcomes import (
    ContactResolutionReport,
    OutcomeMetric,
    OutcomesReport,
    ResolutionGroupBy,
)
from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from cxloop_gateway.deps import MetricsReader, ScoringDep

router = APIRouter(tags=["outcomes"])

MAX_DAYS = 365
MAX_TOUCHPOINTS = 20

Start = Annotated[
    AwareDatetime | None, Query(alias="from", description="Default: 30 days before `to`.")
]
End = Annotated[
    AwareDatetime | None,
    Query(alias="to", description="Default: now - `days`, so that nothing is censored."),
]
Days = Annotated[int | None, Query(ge=1, le=MAX_DAYS, description="The follow-up window.")]


def _present(query: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in query.items() if value is not None}


@router.get("/v1/outcomes", response_model=OutcomesReport)
async def get_outcomes(
    scoring: ScoringDep,
    caller: MetricsReader,
    metric: OutcomeMetric,
    return_touchpoint: Annotated[
        Key, Query(description="Customers came back when this touchpoint follows the answer.")
    ],
    touchpoint: Annotated[
        Key | None, Query(description="Only answers about this touchpoint; default: any.")
    ] = None,
    revenue_touchpoint: Annotated[
        Key | None, Query(description="Whose amounts are revenue; default: `return_touchpoint`.")
    ] = None,
    amount: Annotated[
        Key | None,
        Query(description="The amount attribute; default: the first of order_value, amount."),
    ] = None,
    currency: Annotated[
        str | None, Query(pattern=r"^[A-Za-z]{3}$", description="Only amounts in this currency.")
    ] = None,
    days: Days = None,
    start: Start = None,
    end: End = None,
) -> OutcomesReport:
    """Per score band (promoters, passives, detractors; satisfied, neutral, dissatisfied…):
    customers, the share who came back for `return_touchpoint` within `days` (default 30)
    after answering, and their revenue, with 95% intervals. Each customer counts once, in
    the band of their last answer in the window; customers whose `days` are not over yet
    are counted as censored and left out."""
    query = {
        "metric": metric,
        "return_touchpoint": return_touchpoint,
        "touchpoint": touchpoint,
        "revenue_touchpoint": revenue_touchpoint,
        "amount": amount,
        "currency": currency,
        "days": str(days) if days is not None else None,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
    }
    return await scoring.read(
        OutcomesReport,
        "/internal/v1/outcomes",
        workspace_id=caller.workspace_id,
        query=_present(query),
    )


@router.get("/v1/contact-resolution", response_model=ContactResolutionReport)
async def get_contact_resolution(
    scoring: ScoringDep,
    caller: MetricsReader,
    touchpoint: Annotated[
        list[Key],
        Query(
            min_length=1,
            max_length=MAX_TOUCHPOINTS,
            description="The contact touchpoints (e.g. ticket_closed); repeat for several.",
        ),
    ],
    days: Days = None,
    start: Start = None,
    end: End = None,
    group_by: ResolutionGroupBy | None = None,
) -> ContactResolutionReport:
    """First-contact resolution as observed (contacts not followed by another contact of the
    same customer within `days`, default 7) beside the customer-reported one (yes/no
    answers to the surveys of those contacts), in total and per queue, agent or channel."""
    query = {
        # Keys hold no comma, so one comma-separated value carries them all to scoring.
        "touchpoint": ",".join(touchpoint),
        "days": str(days) if days is not None else None,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "group_by": group_by,
    }
    return await scoring.read(
        ContactResolutionReport,
        "/internal/v1/contact-resolution",
        workspace_id=caller.workspace_id,
        query=_present(query),
    )
