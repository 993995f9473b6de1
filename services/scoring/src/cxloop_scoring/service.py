"""What the internal API does: metrics and journey maps read from the rollups (a
workspace's settings, the window, the rollup sums, the report), and alerts listed and
moved along their states."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cxloop_shared.answers import AlertList, AlertNote, AlertState, AlertView
from cxloop_shared.config import ConfigCache
from cxloop_shared.errors import BadRequest, NotFound
from cxloop_shared.readmodels import Compare, Granularity, JourneyMap, MetricsReport
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring import alert_repository, repository, webhooks
from cxloop_scoring.alert_repository import AlertCursor
from cxloop_scoring.alerts import AlertAction, next_state
from cxloop_scoring.journeys import journey_map
from cxloop_scoring.reports import (
    DEFAULT_MIN_N,
    DEFAULT_TIMEZONE,
    GroupBy,
    Slice,
    build_comparison,
    build_report,
    resolve_window,
)
from cxloop_scoring.schemas import DeliveryOut, DeliveryPage, DeliveryStatus


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """What a caller asks for; `start`/`end` None mean the default window."""

    workspace_id: str
    touchpoint: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    granularity: Granularity = "total"
    group_by: GroupBy | None = None
    compare: Compare | None = None


class JourneyNotFound(NotFound):
    """The workspace configures no journey with this key."""


async def metrics_report(
    *, session: AsyncSession, configs: ConfigCache, query: MetricsQuery, now: datetime
) -> MetricsReport:
    """The metrics report of `query`, read from rollups in the workspace's time zone;
    stages are the touchpoints' stages in the current configuration."""
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
    comparison = None
    if query.compare == "previous":
        previous = where.previous()
        comparison = build_comparison(
            previous=previous,
            min_n=min_n,
            scores=scores,
            previous_scores=await repository.score_rows(session, previous),
            previous_sent=await repository.sent_rows(session, previous),
        )
    stages = (
        {key: touchpoint.stage for key, touchpoint in config.touchpoints.items()} if config else {}
    )
    return build_report(
        where=where,
        min_n=min_n,
        scores=scores,
        sent=sent,
        stages=stages,
        comparison=comparison,
    )


async def journey_report(
    *,
    session: AsyncSession,
    configs: ConfigCache,
    workspace_id: str,
    journey: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> JourneyMap:
    """The map of a configured journey over a window, read from rollups."""
    config = await configs.get(workspace_id)
    if config is None or journey not in config.journeys:
        raise JourneyNotFound(f"no journey {journey!r} in workspace {workspace_id}")
    start, end = resolve_window(start=start, end=end, now=now)
    where = Slice(
        workspace_id=workspace_id,
        touchpoint=None,
        start=start,
        end=end,
        timezone=config.timezone,
        granularity="total",
        group_by="touchpoint",
    )
    return journey_map(
        key=journey,
        config=config,
        start=start,
        end=end,
        scores=await repository.score_rows(session, where),
        sent=await repository.sent_rows(session, where),
    )


# --- Alerts and webhook deliveries ------------------------------------------------------

MAX_PAGE = 200


class AlertNotFound(NotFound):
    """No alert with this id in the caller's workspace (another workspace's is not found)."""


class InvalidCursor(BadRequest):
    """A page cursor this API did not hand out."""


def _alert_cursor(row: RowMapping) -> str:
    raw = f"{row['raised_at'].isoformat()}|{row['alert_id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_alert_cursor(cursor: str) -> AlertCursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        raised_at, alert_id = raw.split("|")
        moment = datetime.fromisoformat(raised_at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(alert_id)
    except ValueError:  # bad base64, bad UTF-8, bad split, bad time or id
        raise InvalidCursor("cursor: not a cursor this API handed out") from None


async def list_alerts(
    *,
    session: AsyncSession,
    workspace_id: str,
    state: AlertState | None,
    limit: int,
    cursor: str | None,
) -> AlertList:
    """One page of a workspace's alerts, newest first; `limit` is capped at `MAX_PAGE`."""
    limit = min(limit, MAX_PAGE)
    after = _read_alert_cursor(cursor) if cursor else None
    rows = await alert_repository.list_alerts(
        session, workspace_id=workspace_id, state=state, limit=limit + 1, after=after
    )
    page = rows[:limit]
    return AlertList(
        items=[AlertView.model_validate(row) for row in page],
        next_cursor=_alert_cursor(page[-1]) if len(rows) > limit else None,
    )


async def change_alert(
    *,
    session: AsyncSession,
    configs: ConfigCache,
    workspace_id: str,
    alert_id: uuid.UUID,
    action: AlertAction,
    change: AlertNote,
    now: datetime,
) -> AlertView:
    """Acknowledge or resolve one of the workspace's alerts, and tell the endpoints that
    subscribe to `alert.acknowledged` / `alert.resolved`. Repeating it changes nothing."""
    row = await alert_repository.alert_for_update(
        session, workspace_id=workspace_id, alert_id=alert_id
    )
    if row is None:
        raise AlertNotFound(f"no alert {alert_id} in workspace {workspace_id}")
    state = next_state(row["state"], action)
    if state is None:
        return AlertView.model_validate(row)
    values: dict[str, Any] = {"state": state}
    if state == "acknowledged":
        values.update(acknowledged_at=now, acknowledged_by=change.by)
    else:
        values.update(resolved_at=now, resolved_by=change.by)
    if change.note is not None:
        values["note"] = change.note
    alert = AlertView.model_validate(
        await alert_repository.update_alert(session, alert_id=alert_id, values=values)
    )
    config = await configs.get(workspace_id)
    if config is not None:
        queued = webhooks.messages(
            config,
            workspace_id=workspace_id,
            event_type=webhooks.ALERT_CHANGED[state],
            subject=str(alert_id),
            at=now,
            data=alert.model_dump(mode="json"),
        )
        await alert_repository.insert_deliveries(session, queued, now=now)
    return alert


async def list_deliveries(
    *,
    session: AsyncSession,
    workspace_id: str,
    status: DeliveryStatus | None,
    endpoint: str | None,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    """One page of a workspace's webhook deliveries with their log, newest first."""
    limit = min(limit, MAX_PAGE)
    if cursor is not None and not cursor.isdigit():
        raise InvalidCursor("cursor: not a cursor this API handed out")
    rows = await alert_repository.list_deliveries(
        session,
        workspace_id=workspace_id,
        status=status,
        endpoint=endpoint,
        limit=limit + 1,
        before=int(cursor) if cursor else None,
    )
    page = rows[:limit]
    log = await alert_repository.attempts_of(session, [row["id"] for row in page])
    deliveries = [
        DeliveryOut.model_validate({**row, "log": log.get(row["id"], [])}) for row in page
    ]
    return DeliveryPage(
        deliveries=deliveries,
        next_cursor=str(page[-1]["id"]) if len(rows) > limit else None,
    )
