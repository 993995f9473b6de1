"""Every SQL statement of the dispatcher."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_dispatch.policy import Sent
from cxloop_dispatch.profiles import StoredCustomer
from cxloop_dispatch.tables import address_opt_outs, customers, invitations, send_ledger


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation as stored: one per touchpoint event, scheduled or suppressed."""

    id: uuid.UUID
    workspace_id: str
    source: str
    event_id: str
    touchpoint: str
    customer_id: str
    status: str
    reason: str
    occurred_at: datetime
    survey: str | None = None
    metric: str | None = None
    channel: str | None = None
    address: str | None = None
    locale: str | None = None
    timezone: str | None = None
    send_at: datetime | None = None
    expires_at: datetime | None = None
    reminders_sent: int = 0


def _invitation(row: Any) -> Invitation:
    return Invitation(**{field: getattr(row, field) for field in Invitation.__slots__})


async def add_invitation(session: AsyncSession, invitation: Invitation) -> bool:
    """Store a new invitation; False when the event was already decided (a redelivery)."""
    values = {field: getattr(invitation, field) for field in Invitation.__slots__}
    statement = insert(invitations).values(values).on_conflict_do_nothing()
    result = await session.execute(statement.returning(invitations.c.id))
    return result.first() is not None


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[Invitation, int]]:
    """Lock due invitations (skipping those another dispatcher holds), mark them `sending`
    and open a ledger attempt for each; return them with their attempt number."""
    due = (
        await session.execute(
            select(invitations)
            .where(invitations.c.status == "scheduled", invitations.c.send_at <= now)
            .order_by(invitations.c.send_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not due:
        return []
    ids = [row.id for row in due]
    await session.execute(
        update(invitations)
        .where(invitations.c.id.in_(ids))
        .values(status="sending", claimed_at=now)
    )
    attempts = dict(
        (
            await session.execute(
                insert(send_ledger)
                .values(
                    [
                        {
                            "invitation_id": row.id,
                            "attempt": select(func.coalesce(func.max(send_ledger.c.attempt), 0) + 1)
                            .where(send_ledger.c.invitation_id == row.id)
                            .scalar_subquery(),
                            "channel": row.channel,
                            "state": "claimed",
                        }
                        for row in due
                    ]
                )
                .returning(send_ledger.c.invitation_id, send_ledger.c.attempt)
            )
        ).all()
    )
    return [(_invitation(row), attempts[row.id]) for row in due]


async def mark_handing_over(
    session: AsyncSession, *, invitation_id: uuid.UUID, attempt: int
) -> None:
    """Note that the message is about to reach the provider: from here, never resend blindly."""
    await session.execute(
        update(send_ledger)
        .where(send_ledger.c.invitation_id == invitation_id, send_ledger.c.attempt == attempt)
        .values(state="handing_over")
    )


async def finish_send(
    session: AsyncSession,
    *,
    invitation_id: uuid.UUID,
    attempt: int,
    status: str,
    detail: str | None,
    provider_message_id: str | None,
    now: datetime,
    retry_at: datetime | None = None,
    switch_to: tuple[str, str] | None = None,
) -> None:
    """Record the provider's answer on the ledger and the invitation; a `retry` goes back
    to `scheduled` at `retry_at`, on another `(channel, address)` when `switch_to`."""
    await session.execute(
        update(send_ledger)
        .where(send_ledger.c.invitation_id == invitation_id, send_ledger.c.attempt == attempt)
        .values(
            state=status, detail=detail, provider_message_id=provider_message_id, finished_at=now
        )
    )
    values: dict[str, Any] = {"status": status}
    if retry_at is not None:
        values = {"status": "scheduled", "send_at": retry_at}
        if switch_to is not None:
            values["channel"], values["address"] = switch_to
    elif status == "sent":
        values["sent_at"] = now
    if detail:
        values["reason"] = detail[:200]
    await session.execute(
        update(invitations).where(invitations.c.id == invitation_id).values(values)
    )


async def recover_stale_sends(
    session: AsyncSession, *, claimed_before: datetime
) -> tuple[list[Invitation], list[Invitation]]:
    """Settle sends whose dispatcher died: those that never reached the provider are
    scheduled again; those that may have reached it become `unknown`. Returns both."""
    stale = (
        await session.execute(
            select(invitations, send_ledger.c.state.label("ledger_state"))
            .join(
                send_ledger,
                and_(
                    send_ledger.c.invitation_id == invitations.c.id,
                    send_ledger.c.state.in_(["claimed", "handing_over"]),
                ),
            )
            .where(invitations.c.status == "sending", invitations.c.claimed_at < claimed_before)
            .with_for_update(of=invitations, skip_locked=True)
        )
    ).all()
    retry = [row.id for row in stale if row.ledger_state == "claimed"]
    unknown = [row.id for row in stale if row.ledger_state == "handing_over"]
    if retry:
        await session.execute(
            update(invitations).where(invitations.c.id.in_(retry)).values(status="scheduled")
        )
        await session.execute(
            update(send_ledger)
            .where(send_ledger.c.invitation_id.in_(retry), send_ledger.c.state == "claimed")
            .values(state="abandoned")
        )
    if unknown:
        await session.execute(
            update(invitations)
            .where(invitations.c.id.in_(unknown))
            .values(status="unknown", reason="provider_outcome_unknown")
        )
        await session.execute(
            update(send_ledger)
            .where(send_ledger.c.invitation_id.in_(unknown), send_ledger.c.state == "handing_over")
            .values(state="unknown")
        )
    rows = {row.id: _invitation(row) for row in stale}
    return [rows[i] for i in retry], [rows[i] for i in unknown]


async def expire_overdue(session: AsyncSession, *, now: datetime, limit: int) -> list[Invitation]:
    """Scheduled invitations whose expiry passed: never sent late, marked `expired`."""
    overdue = (
        await session.execute(
            update(invitations)
            .where(invitations.c.status == "scheduled", invitations.c.expires_at <= now)
            .values(status="expired", reason="expired")
            .returning(*invitations.c)
        )
    ).all()
    return [_invitation(row) for row in overdue[:limit]]


async def load_customer(
    session: AsyncSession, *, workspace_id: str, customer_id: str
) -> StoredCustomer:
    """The customer's stored profile, locked until the transaction ends (empty if new)."""
    row = (
        await session.execute(
            select(customers)
            .where(customers.c.workspace_id == workspace_id, customers.c.customer_id == customer_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        return StoredCustomer()
    return StoredCustomer(
        fields=dict(row.fields),
        field_times=dict(row.field_times),
        consent=dict(row.opted_out),
        erased_at=row.erased_at,
    )


async def save_customer(
    session: AsyncSession, *, workspace_id: str, customer_id: str, stored: StoredCustomer
) -> None:
    """Write the profile back."""
    values = {
        "fields": stored.fields,
        "field_times": stored.field_times,
        "opted_out": stored.consent,
        "erased_at": stored.erased_at,
        "updated_at": func.now(),
    }
    statement = insert(customers).values(
        workspace_id=workspace_id, customer_id=customer_id, **values
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.workspace_id, customers.c.customer_id], set_=values
        )
    )


async def channels_opted_out_by_address(
    session: AsyncSession, *, workspace_id: str, digests: Sequence[str]
) -> frozenset[str]:
    """Channels on which one of the addresses (by digest) asked not to be contacted."""
    if not digests:
        return frozenset()
    rows = await session.scalars(
        select(address_opt_outs.c.channel).where(
            address_opt_outs.c.workspace_id == workspace_id,
            address_opt_outs.c.address_digest.in_(list(digests)),
        )
    )
    return frozenset(rows.all())


async def set_address_opt_out(
    session: AsyncSession,
    *,
    workspace_id: str,
    address_digest: str,
    channel: str,
    opted_out: bool,
    at: datetime,
) -> None:
    """Block (or unblock) one address on one channel."""
    if opted_out:
        statement = insert(address_opt_outs).values(
            workspace_id=workspace_id,
            address_digest=address_digest,
            channel=channel,
            opted_out_at=at,
        )
        await session.execute(statement.on_conflict_do_nothing())
        return
    await session.execute(
        delete(address_opt_outs).where(
            address_opt_outs.c.workspace_id == workspace_id,
            address_opt_outs.c.address_digest == address_digest,
            address_opt_outs.c.channel == channel,
            address_opt_outs.c.opted_out_at <= at,
        )
    )


FATIGUE_STATUSES = ("scheduled", "sending", "sent", "unknown")


async def fatigue_history(
    session: AsyncSession, *, workspace_id: str, customer_id: str, since: datetime
) -> list[Sent]:
    """The customer's invitations that count against fatigue rules, from `since` on."""
    at = func.coalesce(invitations.c.sent_at, invitations.c.send_at)
    rows = await session.execute(
        select(invitations.c.touchpoint, invitations.c.survey, invitations.c.channel, at).where(
            invitations.c.workspace_id == workspace_id,
            invitations.c.customer_id == customer_id,
            invitations.c.status.in_(FATIGUE_STATUSES),
            invitations.c.send_at >= since,
        )
    )
    return [Sent(touchpoint=t, survey=s or "", channel=c or "", at=a) for t, s, c, a in rows]


async def cancel_for_erasure(
    session: AsyncSession, *, workspace_id: str, customer_id: str
) -> list[Invitation]:
    """Cancel the customer's pending invitations and drop every address kept for them.

    Rows stay (without personal data), so counts and decisions remain explainable.
    """
    cancelled = (
        await session.execute(
            update(invitations)
            .where(
                invitations.c.workspace_id == workspace_id,
                invitations.c.customer_id == customer_id,
                invitations.c.status == "scheduled",
            )
            .values(status="suppressed", reason="erased", address=None)
            .returning(*invitations.c)
        )
    ).all()
    await session.execute(
        update(invitations)
        .where(invitations.c.workspace_id == workspace_id, invitations.c.customer_id == customer_id)
        .values(address=None, locale=None, timezone=None)
    )
    return [_invitation(row) for row in cancelled]


async def provider_attempts(session: AsyncSession, *, invitation_id: uuid.UUID) -> int:
    """How many times the invitation's current channel was actually tried."""
    invitation_channel = (
        select(invitations.c.channel).where(invitations.c.id == invitation_id).scalar_subquery()
    )
    count = await session.scalar(
        select(func.count())
        .select_from(send_ledger)
        .where(
            send_ledger.c.invitation_id == invitation_id,
            send_ledger.c.channel == invitation_channel,
            send_ledger.c.state != "abandoned",
            func.coalesce(send_ledger.c.detail, "").notin_(
                ["circuit_open", "quiet_hours_deferred"]
            ),
        )
    )
    return int(count or 0)


async def tried_channels(session: AsyncSession, *, invitation_id: uuid.UUID) -> set[str]:
    """Channels the invitation was already tried on."""
    rows = await session.scalars(
        select(send_ledger.c.channel).where(send_ledger.c.invitation_id == invitation_id).distinct()
    )
    return set(rows.all())


async def mark_answered(
    session: AsyncSession, *, invitation_ids: Sequence[uuid.UUID], at: datetime
) -> None:
    """Answered invitations get no more reminders."""
    if invitation_ids:
        await session.execute(
            update(invitations)
            .where(invitations.c.id.in_(list(invitation_ids)), invitations.c.answered_at.is_(None))
            .values(answered_at=at, remind_at=None)
        )


async def set_reminder(session: AsyncSession, *, invitation_id: uuid.UUID, at: datetime) -> None:
    """When the next reminder of a sent invitation is due."""
    await session.execute(
        update(invitations).where(invitations.c.id == invitation_id).values(remind_at=at)
    )


async def requeue_reminders(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Due reminders of unanswered invitations go back to `scheduled`, to be sent like
    the invitation itself (same ledger, retries and fallback); returns how many."""
    due = (
        select(invitations.c.id)
        .where(
            invitations.c.status == "sent",
            invitations.c.answered_at.is_(None),
            invitations.c.remind_at <= now,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(invitations)
        .where(invitations.c.id.in_(due))
        .values(
            status="scheduled",
            send_at=invitations.c.remind_at,
            remind_at=None,
            reminders_sent=invitations.c.reminders_sent + 1,
            reason="reminder",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def record_delivery(
    session: AsyncSession, *, invitation_id: uuid.UUID, workspace_id: str, delivery: str
) -> Invitation | None:
    """Note the provider's delivery report on a sent invitation; None if there is none such.

    A report never goes back from `failed` to `delivered`; repeated reports change nothing.
    """
    row = (
        await session.execute(
            update(invitations)
            .where(
                invitations.c.id == invitation_id,
                invitations.c.workspace_id == workspace_id,
                invitations.c.status == "sent",
                func.coalesce(invitations.c.delivery, "") != "failed",
                func.coalesce(invitations.c.delivery, "") != delivery,
            )
            .values(delivery=delivery)
            .returning(*invitations.c)
        )
    ).first()
    return _invitation(row) if row else None
