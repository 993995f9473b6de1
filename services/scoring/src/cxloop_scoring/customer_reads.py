"""Scoring's internal API about one customer, called by the gateway: the timeline of
their touchpoints and answers. An erased customer's rows carry a pseudonym, not the
id, so the id finds nothing here any more."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.customers import (
    DEFAULT_TIMELINE,
    MAX_TIMELINE,
    AnswerGiven,
    ScoringTimeline,
    TouchpointSeen,
)
from cxloop_shared.events import Key
from cxloop_shared.http import InternalCaller
from fastapi import APIRouter, Path, Query

from cxloop_scoring import customer_repository
from cxloop_scoring.deps import SessionDep

router = APIRouter(prefix="/internal/v1", tags=["internal"], dependencies=[InternalCaller])

# `:path`, so ids with a slash (sent percent-encoded) still reach the route.
CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_TIMELINE, description=f"At most {MAX_TIMELINE}.")]


@router.get("/customers/{customer_id:path}/timeline", response_model=ScoringTimeline)
async def customer_timeline(
    session: SessionDep, customer_id: CustomerId, workspace_id: Key, limit: Limit = DEFAULT_TIMELINE
) -> ScoringTimeline:
    """The customer's touchpoints and answers (latest revisions), newest first; empty
    for a customer scoring never heard of."""
    touchpoints = await customer_repository.touchpoints_of(
        session, workspace_id=workspace_id, customer_id=customer_id, limit=limit + 1
    )
    answers = await customer_repository.answers_of(
        session, workspace_id=workspace_id, customer_id=customer_id, limit=limit + 1
    )
    return ScoringTimeline(
        workspace_id=workspace_id,
        customer_id=customer_id,
        touchpoints=[TouchpointSeen.model_validate(dict(row)) for row in touchpoints[:limit]],
        answers=[AnswerGiven.model_validate(dict(row)) for row in answers[:limit]],
        truncated=len(touchpoints) > limit or len(answers) > limit,
    )
