"""Dispatch's internal API, called by the gateway: a customer's profile and decisions,
and the trace of a touchpoint event. Every read is scoped to the workspace asked for:
another workspace's customer or event is simply not found."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.customers import (
    DEFAULT_TIMELINE,
    MAX_TIMELINE,
    DispatchCustomer,
    EventTrace,
)
from cxloop_shared.errors import NotFound
from cxloop_shared.events import Key
from cxloop_shared.http import InternalCaller
from fastapi import APIRouter, Path, Query

from cxloop_dispatch import customer_repository
from cxloop_dispatch.customer_views import decision_view, profile_view
from cxloop_dispatch.deps import SessionDep

router = APIRouter(prefix="/internal/v1", tags=["internal"], dependencies=[InternalCaller])

# `:path`, so ids with a slash (sent percent-encoded) still reach the route.
CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
EventId = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_TIMELINE, description=f"At most {MAX_TIMELINE}.")]


@router.get("/customers/{customer_id:path}", response_model=DispatchCustomer)
async def get_customer(
    session: SessionDep, customer_id: CustomerId, workspace_id: Key, limit: Limit = DEFAULT_TIMELINE
) -> DispatchCustomer:
    """The customer's profile (contacts masked) and decisions, newest first."""
    stored = await customer_repository.customer(
        session, workspace_id=workspace_id, customer_id=customer_id
    )
    rows = await customer_repository.customer_decisions(
        session, workspace_id=workspace_id, customer_id=customer_id, limit=limit + 1
    )
    if stored is None and not rows:
        raise NotFound(f"no customer {customer_id!r} in this workspace")
    return DispatchCustomer(
        workspace_id=workspace_id,
        customer_id=customer_id,
        profile=profile_view(stored) if stored is not None else None,
        decisions=[decision_view(row) for row in rows[:limit]],
        truncated=len(rows) > limit,
    )


@router.get("/events/{event_id:path}/trace", response_model=EventTrace)
async def trace_event(
    session: SessionDep, event_id: EventId, workspace_id: Key, source: Key | None = None
) -> EventTrace:
    """Every decision taken for the touchpoint event (from `source`, or any), with its
    reason and every attempt at sending it."""
    rows = await customer_repository.event_decisions(
        session, workspace_id=workspace_id, event_id=event_id, source=source
    )
    if not rows:
        from_source = f" from source {source!r}" if source else ""
        raise NotFound(f"no decision for event {event_id!r}{from_source} in this workspace")
    attempts = await customer_repository.send_attempts(session, [row["id"] for row in rows])
    return EventTrace(
        workspace_id=workspace_id,
        event_id=event_id,
        decisions=[decision_view(row, attempts.get(row["id"], [])) for row in rows],
    )
