"""Every SQL statement of ingest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cxloop_shared.events import CxiItems
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_ingest.tables import answers, received_events, sent_invitations


async def remember_events(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """Record `(workspace_id, source, event_id)` keys; return those seen for the first time."""
    if not keys:
        return set()
    rows = [{"workspace_id": w, "source": s, "event_id": e} for w, s, e in keys]
    statement = (
        insert(received_events)
        .on_conflict_do_nothing()
        .returning(
            received_events.c.workspace_id, received_events.c.source, received_events.c.event_id
        )
    )
    result = await session.execute(statement, rows)
    return {(row[0], row[1], row[2]) for row in result.all()}


async def forget_events_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop dedupe keys received before `cutoff`; return how many."""
    result = await session.execute(
        delete(received_events).where(received_events.c.received_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The latest revision of an answer as ingest recorded it."""

    revision: int
    score: int
    comment: str | None
    items: CxiItems | None = None


async def latest_answer(
    session: AsyncSession, *, workspace_id: str, response_id: str
) -> StoredAnswer | None:
    """The answer's latest revision, locked until the transaction ends."""
    row = (
        await session.execute(
            select(answers.c.revision, answers.c.score, answers.c.comment, answers.c["items"])
            .where(answers.c.workspace_id == workspace_id, answers.c.response_id == response_id)
            .with_for_update()
        )
    ).first()
    return StoredAnswer(row.revision, row.score, row.comment, row[3]) if row else None


async def save_answer(
    session: AsyncSession,
    *,
    workspace_id: str,
    response_id: str,
    invitation_id: uuid.UUID | None,
    revision: int,
    score: int,
    items: CxiItems | None,
    comment: str | None,
    answered_at: datetime,
    customer_id: str | None,
) -> None:
    """Store an answer's new revision (`customer_id`: whose it is; None to keep it unnamed)."""
    values = {
        "workspace_id": workspace_id,
        "response_id": response_id,
        "invitation_id": invitation_id,
        "revision": revision,
        "score": score,
        "items": items,
        "comment": comment,
        "answered_at": answered_at,
        "customer_id": customer_id,
    }
    statement = insert(answers).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[answers.c.workspace_id, answers.c.response_id],
        set_={
            k: statement.excluded[k]
            for k in ("revision", "score", "items", "comment", "answered_at", "customer_id")
        },
    )
    await session.execute(statement)


async def save_sent_invitation(session: AsyncSession, values: dict[str, object]) -> None:
    """Remember an invitation sent to an address; a redelivery changes nothing."""
    await session.execute(insert(sent_invitations).values(values).on_conflict_do_nothing())


@dataclass(frozen=True, slots=True)
class SentInvitation:
    """An invitation that went to an address, as ingest knows it."""

    invitation_id: uuid.UUID
    customer_id: str
    touchpoint: str
    survey: str
    metric: str
    channel: str
    answer_until: datetime


async def latest_sent_invitation(
    session: AsyncSession,
    *,
    workspace_id: str,
    address_digest: str,
    channels: Sequence[str],
    open_at: datetime | None,
) -> SentInvitation | None:
    """The newest invitation sent to the address on one of `channels`.

    With `open_at`, only one whose answer window is still open then.
    """
    table = sent_invitations
    query = (
        select(
            table.c.invitation_id,
            table.c.customer_id,
            table.c.touchpoint,
            table.c.survey,
            table.c.metric,
            table.c.channel,
            table.c.answer_until,
        )
        .where(
            table.c.workspace_id == workspace_id,
            table.c.address_digest == address_digest,
            table.c.channel.in_(list(channels)),
        )
        .order_by(table.c.sent_at.desc())
        .limit(1)
    )
    if open_at is not None:
        query = query.where(table.c.answer_until > open_at)
    row = (await session.execute(query)).first()
    return SentInvitation(*row) if row else None
