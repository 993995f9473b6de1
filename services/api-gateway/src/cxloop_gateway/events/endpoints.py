"""Routes of /v1/events: the trace of a touchpoint event, answered by dispatch."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.customers import EventTrace
from cxloop_shared.events import Key
from fastapi import APIRouter, Path

from cxloop_gateway.customers.service import path_segment
from cxloop_gateway.deps import CustomersReader, DispatchDep

router = APIRouter(prefix="/v1/events", tags=["events"])

EventId = Annotated[
    str, Path(min_length=1, max_length=200, description="The event's `id`, as its source sent it.")
]


@router.get("/{event_id:path}/trace", response_model=EventTrace)
async def trace_event(
    dispatch: DispatchDep, caller: CustomersReader, event_id: EventId, source: Key | None = None
) -> EventTrace:
    """Every decision taken for the touchpoint event (from `source`, or any source that
    sent that id), with its reason and every attempt at sending the survey."""
    return await dispatch.read(
        EventTrace,
        f"/internal/v1/events/{path_segment(event_id)}/trace",
        workspace_id=caller.workspace_id,
        query={"source": source} if source else {},
    )
