"""Every SQL statement of the dispatcher."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_dispatch.policy import Sent
from cxloop_dispatch.profiles import StoredCustomer
from cxloop_dispatch.redaction import scrub_addresses
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
    # The trace of the touchpoint it was decided for, so its later steps continue it.
    trace: dict[str, str] | None = None


def _invitation(row: Any) -> Invitation:
    return Invitation(**{field: getattr(row, field) for field in Invitation.__slots__})


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
    key = (workspace_id, customer_id)
    return (await load_customers(session, [key]))[key]


async def save_customer(
    session: AsyncSession, *, workspace_id: str, customer_id: str, stored: StoredCustomer
) -> None:
    """Write the profile back."""
    await save_customers(session, {(workspace_id, customer_id): stored})


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


async def scrub_send_logs(
    session: AsyncSession, *, workspace_id: str, customer_id: str, addresses: Collection[str]
) -> int:
    """Replace every address in the customer's invitations' reasons and send-ledger
    details with `[erased]` (see `redaction`): `addresses` and those the invitations
    went to, so call it before they are dropped. Returns how many texts changed."""
    mine = and_(
        invitations.c.workspace_id == workspace_id, invitations.c.customer_id == customer_id
    )
    went_to = await session.scalars(
        select(invitations.c.address).where(mine, invitations.c.address.is_not(None)).distinct()
    )
    known = {*addresses, *(address for address in went_to if address)}
    reasons = [
        {"_id": row.id, "_reason": scrubbed}
        for row in await session.execute(select(invitations.c.id, invitations.c.reason).where(mine))
        if (scrubbed := scrub_addresses(row.reason, addresses=known)) != row.reason
    ]
    if reasons:
        await session.execute(
            update(invitations)
            .where(invitations.c.id == bindparam("_id"))
            .values(reason=bindparam("_reason")),
            reasons,
        )
    ledger = send_ledger
    found = await session.execute(
        select(ledger.c.invitation_id, ledger.c.attempt, ledger.c.detail).where(
            ledger.c.invitation_id.in_(select(invitations.c.id).where(mine)),
            ledger.c.detail.is_not(None),
        )
    )
    details = [
        {"_invitation_id": row.invitation_id, "_attempt": row.attempt, "_detail": scrubbed}
        for row in found
        if (scrubbed := scrub_addresses(row.detail, addresses=known)) != row.detail
    ]
    if details:
        await session.execute(
            update(ledger)
            .where(
                ledger.c.invitation_id == bindparam("_invitation_id"),
                ledger.c.attempt == bindparam("_attempt"),
            )
            .values(detail=bindparam("_detail")),
            details,
        )
    return len(reasons) + len(details)


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


async def existing_invitations(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these invitations were decided already (their events are redeliveries)."""
    rows = await session.scalars(select(invitations.c.id).where(invitations.c.id.in_(list(ids))))
    return set(rows.all())


async def add_invitations(session: AsyncSession, batch: Sequence[Invitation]) -> None:
    """Store new invitations in one statement."""
    if batch:
        rows = [{f: getattr(i, f) for f in Invitation.__slots__} for i in batch]
        await session.execute(insert(invitations).on_conflict_do_nothing(), rows)


async def load_customers(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StoredCustomer]:
    """Stored profiles of `(workspace_id, customer_id)` keys, locked; empty ones for new."""
    found = {key: StoredCustomer() for key in keys}
    if keys:
        rows = await session.execute(
            select(customers)
            .where(tuple_(customers.c.workspace_id, customers.c.customer_id).in_(list(keys)))
            .order_by(customers.c.workspace_id, customers.c.customer_id)
            .with_for_update()
        )
        for row in rows:
            found[(row.workspace_id, row.customer_id)] = StoredCustomer(
                fields=dict(row.fields),
                field_times=dict(row.field_times),
                consent=dict(row.opted_out),
                erased_at=row.erased_at,
            )
    return found


async def save_customers(
    session: AsyncSession, changed: dict[tuple[str, str], StoredCustomer]
) -> None:
    """Write changed profiles back in one statement."""
    if not changed:
        return
    rows = [
        {
            "workspace_id": workspace_id,
            "customer_id": customer_id,
            "fields": stored.fields,
            "field_times": stored.field_times,
            "opted_out": stored.consent,
            "erased_at": stored.erased_at,
        }
        for (workspace_id, customer_id), stored in sorted(changed.items())
    ]
    statement = insert(customers)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.workspace_id, customers.c.customer_id],
            set_={
                "fields": statement.excluded.fields,
                "field_times": statement.excluded.field_times,
                "opted_out": statement.excluded.opted_out,
                "erased_at": statement.excluded.erased_at,
                "updated_at": func.now(),
            },
        ),
        rows,
    )


async def opted_out_addresses(
    session: AsyncSession, digests_by_customer: Iterable[Sequence[str]]
) -> dict[tuple[str, str], frozenset[str]]:
    """Channels blocked per `(workspace_id, address_digest)`, for the given digests."""
    digests = sorted({d for group in digests_by_customer for d in group})
    if not digests:
        return {}
    rows = await session.execute(
        select(
            address_opt_outs.c.workspace_id,
            address_opt_outs.c.address_digest,
            address_opt_outs.c.channel,
        ).where(address_opt_outs.c.address_digest.in_(digests))
    )
    blocked: dict[tuple[str, str], set[str]] = {}
    for workspace_id, digest, channel in rows:
        blocked.setdefault((workspace_id, digest), set()).add(channel)
    return {key: frozenset(channels) for key, channels in blocked.items()}


async def fatigue_histories(
    session: AsyncSession, keys: Sequence[tuple[str, str]], *, since: datetime
) -> dict[tuple[str, str], list[Sent]]:
    """Each customer's invitations that count against fatigue rules, from `since` on."""
    if not keys:
        return {}
    at = func.coalesce(invitations.c.sent_at, invitations.c.send_at)
    rows = await session.execute(
        select(
            invitations.c.workspace_id,
            invitations.c.customer_id,
            invitations.c.touchpoint,
            invitations.c.survey,
            invitations.c.channel,
            at,
        ).where(
            tuple_(invitations.c.workspace_id, invitations.c.customer_id).in_(list(keys)),
            invitations.c.status.in_(FATIGUE_STATUSES),
            invitations.c.send_at >= since,
        )
    )
    histories: dict[tuple[str, str], list[Sent]] = {}
    for workspace_id, customer_id, touchpoint, survey, channel, when in rows:
        histories.setdefault((workspace_id, customer_id), []).append(
            Sent(touchpoint=touchpoint, survey=survey or "", channel=channel or "", at=when)
        )
    return histories
