"""Routes of /v1/alerts: closed-loop alerts, listed, acknowledged and resolved."""

from __future__ import annotations

import uuid
from typing import Annotated

from cxloop_shared.answers import DEFAULT_PAGE, AlertList, AlertNote, AlertState, AlertView
from cxloop_shared.apikeys import Principal
from fastapi import APIRouter, Body, Query

from cxloop_gateway.alerts import service
from cxloop_gateway.deps import MetricsReader, PageLimit, ScoringDep, principal

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

# Following a customer up is acting on the customer, hence the customers scope.
AlertHandler = Annotated[Principal, principal("customers:write")]
OptionalNote = Annotated[AlertNote | None, Body()]


@router.get("", response_model=AlertList)
async def list_alerts(
    scoring: ScoringDep,
    caller: MetricsReader,
    state: AlertState | None = None,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the page before.")
    ] = None,
) -> AlertList:
    """The workspace's alerts, newest first, optionally in one state; follow `next_cursor`."""
    return await service.list_alerts(
        scoring, workspace_id=caller.workspace_id, state=state, limit=limit, cursor=cursor
    )


@router.post("/{alert_id}/acknowledge", response_model=AlertView)
async def acknowledge_alert(
    scoring: ScoringDep, caller: AlertHandler, alert_id: uuid.UUID, note: OptionalNote = None
) -> AlertView:
    """Somebody is on it: open → acknowledged (again: no change; resolved: 409)."""
    return await service.change_alert(
        scoring, caller=caller, alert_id=alert_id, action="acknowledge", note=note or AlertNote()
    )


@router.post("/{alert_id}/resolve", response_model=AlertView)
async def resolve_alert(
    scoring: ScoringDep, caller: AlertHandler, alert_id: uuid.UUID, note: OptionalNote = None
) -> AlertView:
    """The customer was followed up: open or acknowledged → resolved (again: no change)."""
    return await service.change_alert(
        scoring, caller=caller, alert_id=alert_id, action="resolve", note=note or AlertNote()
    )
