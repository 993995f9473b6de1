"""Scoring's internal API, called by the gateway: metrics, journey maps, alerts, webhook
deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from cxloop_shared.answers import AlertList, AlertNote, AlertState, AlertView
from cxloop_shared.events import Key, utcnow
from cxloop_shared.http import InternalCaller
from cxloop_shared.readmodels import Compare, Granularity, JourneyMap, MetricsReport
from fastapi import APIRouter, Body, Path, Query
from pydantic import AwareDatetime

from cxloop_scoring import service
from cxloop_scoring.alerts import AlertAction
from cxloop_scoring.deps import ConfigsDep, SessionDep
from cxloop_scoring.reports import GroupBy
from cxloop_scoring.schemas import DeliveryPage, DeliveryStatus
from cxloop_scoring.service import MetricsQuery, journey_report, metrics_report

router = APIRouter(prefix="/internal/v1", tags=["internal"], dependencies=[InternalCaller])

From = Annotated[
    AwareDatetime | None, Query(alias="from", description="Default: 30 days before `to`.")
]
To = Annotated[AwareDatetime | None, Query(alias="to", description="Default: now.")]


@router.get("/metrics", response_model=MetricsReport)
async def get_metrics(
    session: SessionDep,
    configs: ConfigsDep,
    workspace_id: Key,
    touchpoint: Key | None = None,
    start: From = None,
    end: To = None,
    granularity: Granularity = "total",
    group_by: GroupBy | None = None,
    compare: Annotated[
        Compare | None,
        Query(description="`previous`: also the window of the same length just before `from`."),
    ] = None,
) -> MetricsReport:
    """Metrics of a workspace (or one touchpoint) over a window, from the rollups."""
    query = MetricsQuery(
        workspace_id=workspace_id,
        touchpoint=touchpoint,
        start=start,
        end=end,
        granularity=granularity,
        group_by=group_by,
        compare=compare,
    )
    return await metrics_report(session=session, configs=configs, query=query, now=utcnow())


@router.get("/journeys/{journey}/map", response_model=JourneyMap)
async def get_journey_map(
    session: SessionDep,
    configs: ConfigsDep,
    journey: Annotated[Key, Path(description="The journey's key in the configuration.")],
    workspace_id: Key,
    start: From = None,
    end: To = None,
) -> JourneyMap:
    """Each stage of a configured journey and its touchpoints, with scores and statuses."""
    return await journey_report(
        session=session,
        configs=configs,
        workspace_id=workspace_id,
        journey=journey,
        start=start,
        end=end,
        now=utcnow(),
    )


PageSize = Annotated[int, Query(ge=1, description=f"At most {service.MAX_PAGE}.")]
OptionalChange = Annotated[AlertNote | None, Body()]


@router.get("/alerts", response_model=AlertList)
async def list_alerts(
    session: SessionDep,
    workspace_id: Key,
    state: AlertState | None = None,
    limit: PageSize = 50,
    cursor: str | None = None,
) -> AlertList:
    """A workspace's alerts, newest first, optionally in one state."""
    return await service.list_alerts(
        session=session, workspace_id=workspace_id, state=state, limit=limit, cursor=cursor
    )


@router.post("/alerts/{alert_id}/{action}", response_model=AlertView)
async def change_alert(
    session: SessionDep,
    configs: ConfigsDep,
    alert_id: uuid.UUID,
    action: AlertAction,
    workspace_id: Key,
    change: OptionalChange = None,
) -> AlertView:
    """`acknowledge` (somebody is on it: open → acknowledged) or `resolve` (the customer
    was followed up: open or acknowledged → resolved)."""
    return await service.change_alert(
        session=session,
        configs=configs,
        workspace_id=workspace_id,
        alert_id=alert_id,
        action=action,
        change=change or AlertNote(),
        now=utcnow(),
    )


@router.get("/webhook-deliveries", response_model=DeliveryPage)
async def list_deliveries(
    session: SessionDep,
    workspace_id: Key,
    status: DeliveryStatus | None = None,
    endpoint: Key | None = None,
    limit: PageSize = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    """A workspace's outbound webhook deliveries with every attempt, newest first."""
    return await service.list_deliveries(
        session=session,
        workspace_id=workspace_id,
        status=status,
        endpoint=endpoint,
        limit=limit,
        cursor=cursor,
    )
