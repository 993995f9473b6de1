"""Every SQL statement about closed-loop alerts and outbound webhook deliveries (and
their log). Nothing here commits: the entry point owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring.alerts import Alert
from cxloop_scoring.tables import alerts, webhook_attempts, webhook_deliveries
from cxloop_scoring.webhooks import AttemptResult, Message

# --- Alerts ----------------------------------------------------------------------------


async def insert_alerts(session: AsyncSession, raised: Sequence[Alert]) -> list[Alert]:
    """Store alerts not stored before; return those, each once (its first revision)."""
    unique: dict[uuid.UUID, Alert] = {}
    for alert in raised:
        unique.setdefault(alert.alert_id, alert)
    if not unique:
        return []
    statement = (
        insert(alerts)
        .values([alert.row() for alert in unique.values()])
        .on_conflict_do_nothing()
        .returning(alerts.c.alert_id)
    )
    stored = set((await session.scalars(statement)).all())
    return [alert for alert_id, alert in unique.items() if alert_id in stored]


AlertCursor = tuple[datetime, uuid.UUID]  # (raised_at, alert_id) of the last alert seen


async def list_alerts(
    session: AsyncSession,
    *,
    workspace_id: str,
    state: str | None,
    limit: int,
    after: AlertCursor | None,
) -> list[RowMapping]:
    """A workspace's alerts newest first, optionally in one state, after a cursor."""
    statement = select(alerts).where(alerts.c.workspace_id == workspace_id)
    if state is not None:
        statement = statement.where(alerts.c.state == state)
    if after is not None:
        raised_at, alert_id = after
        statement = statement.where(
            or_(
                alerts.c.raised_at < raised_at,
                and_(alerts.c.raised_at == raised_at, alerts.c.alert_id < alert_id),
            )
        )
    statement = statement.order_by(alerts.c.raised_at.desc(), alerts.c.alert_id.desc())
    return list((await session.execute(statement.limit(limit))).mappings())


async def alert_for_update(
    session: AsyncSession, *, workspace_id: str, alert_id: uuid.UUID
) -> RowMapping | None:
    """One of the workspace's alerts, locked until the transaction ends; None if not its."""
    statement = (
        select(alerts)
        .where(alerts.c.alert_id == alert_id, alerts.c.workspace_id == workspace_id)
        .with_for_update()
    )
    return (await session.execute(statement)).mappings().first()


async def update_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, values: Mapping[str, Any]
) -> RowMapping:
    """Change an alert's state (and who, when, why); return it as it is now."""
    statement = (
        update(alerts).where(alerts.c.alert_id == alert_id).values(**values).returning(alerts)
    )
    updated: RowMapping = (await session.execute(statement)).mappings().one()
    return updated


# --- Webhook deliveries ----------------------------------------------------------------


async def insert_deliveries(
    session: AsyncSession, queued: Sequence[Message], *, now: datetime
) -> None:
    """Queue each message for its endpoint, due now; a message already queued stays as is."""
    if not queued:
        return
    rows = [
        {
            "workspace_id": message.workspace_id,
            "endpoint": message.endpoint,
            "message_id": message.message_id,
            "event_type": message.event_type,
            "body": message.body,
            "next_attempt_at": now,
        }
        for message in queued
    ]
    await session.execute(insert(webhook_deliveries).on_conflict_do_nothing(), rows)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed for one attempt (`attempt` counts from 1)."""

    id: int
    workspace_id: str
    endpoint: str
    message_id: str
    event_type: str
    body: str
    attempt: int


async def claim_deliveries(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta
) -> list[DueDelivery]:
    """Claim due deliveries for one attempt each, skipping those another worker holds.

    A claim counts the attempt and moves the delivery's due time `lease` ahead, so a
    worker that dies mid-attempt leaves it to be claimed again once the lease is over.
    """
    table = webhook_deliveries
    due = (
        select(table.c.id)
        .where(table.c.status == "pending", table.c.next_attempt_at <= now)
        .order_by(table.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(table)
        .where(table.c.id.in_(due.scalar_subquery()))
        .values(attempts=table.c.attempts + 1, next_attempt_at=now + lease)
        .returning(
            table.c.id,
            table.c.workspace_id,
            table.c.endpoint,
            table.c.message_id,
            table.c.event_type,
            table.c.body,
            table.c.attempts,
        )
    )
    result = await session.execute(statement)
    claimed = [
        DueDelivery(
            id=row.id,
            workspace_id=row.workspace_id,
            endpoint=row.endpoint,
            message_id=row.message_id,
            event_type=row.event_type,
            body=row.body,
            attempt=row.attempts,
        )
        for row in result
    ]
    return sorted(claimed, key=lambda delivery: delivery.id)


async def record_attempt(
    session: AsyncSession,
    *,
    delivery: DueDelivery,
    result: AttemptResult,
    attempted_at: datetime,
    retry_at: datetime | None,
    now: datetime,
) -> str:
    """Log the attempt and settle the delivery: delivered, retried at `retry_at`, or failed.

    Returns the attempt's outcome. A worker whose lease ran out while it waited (another
    one claimed the delivery since) still logs its attempt but leaves the delivery alone.
    """
    outcome = "delivered" if result.delivered else "retry" if retry_at is not None else "failed"
    error = result.error or (None if result.delivered else f"HTTP {result.status_code}")
    await session.execute(
        webhook_attempts.insert().values(
            delivery_id=delivery.id,
            attempt=delivery.attempt,
            attempted_at=attempted_at,
            status_code=result.status_code,
            error=error,
            duration_ms=result.duration_ms,
            outcome=outcome,
            next_attempt_at=retry_at,
        )
    )
    settled: dict[str, Any] = {"last_error": error}
    if outcome == "retry":
        settled["next_attempt_at"] = retry_at
    else:
        settled.update(status=outcome, finished_at=now)
    table = webhook_deliveries
    await session.execute(
        update(table)
        .where(
            table.c.id == delivery.id,
            table.c.attempts == delivery.attempt,
            table.c.status == "pending",
        )
        .values(**settled)
    )
    return outcome


async def list_deliveries(
    session: AsyncSession,
    *,
    workspace_id: str,
    status: str | None,
    endpoint: str | None,
    limit: int,
    before: int | None,
) -> list[RowMapping]:
    """A workspace's deliveries newest first, optionally filtered, before a cursor."""
    table = webhook_deliveries
    statement = select(table).where(table.c.workspace_id == workspace_id)
    if status is not None:
        statement = statement.where(table.c.status == status)
    if endpoint is not None:
        statement = statement.where(table.c.endpoint == endpoint)
    if before is not None:
        statement = statement.where(table.c.id < before)
    statement = statement.order_by(table.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).mappings())


async def attempts_of(
    session: AsyncSession, delivery_ids: Collection[int]
) -> dict[int, list[RowMapping]]:
    """The delivery log of each delivery, oldest attempt first."""
    if not delivery_ids:
        return {}
    statement = (
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(sorted(delivery_ids)))
        .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.id)
    )
    found: dict[int, list[RowMapping]] = {}
    for row in (await session.execute(statement)).mappings():
        found.setdefault(row["delivery_id"], []).append(row)
    return found
