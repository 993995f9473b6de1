"""Every SQL statement about answers, rollups and the touchpoints answers were asked
about; alerts and webhook deliveries are in `alert_repository.py`. Nothing here
commits: the entry point owns the transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from cxloop_shared.events import InvitationChanged, TouchpointReceived
from sqlalchemy import Column, DateTime, Select, Table, and_, func, null, select, text, tuple_
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring.alerts import TouchpointContext
from cxloop_scoring.reports import ScoreRow, SentRow, Slice
from cxloop_scoring.rollups import SCORES, Answer, Histogram, ResponseKey, RollupKey, SentInvitation
from cxloop_scoring.tables import (
    answer_revisions,
    answers,
    invitation_origins,
    invitations_sent,
    rollups,
    sent_rollups,
    touchpoint_contexts,
)

_ANSWER_FIELDS = (
    "workspace_id",
    "response_id",
    "revision",
    "touchpoint",
    "survey",
    "metric",
    "channel",
    "customer_id",
    "score",
    "comment",
    "invitation_id",
    "answered_at",
    "persona",
    "items",
)


def _answer_row(answer: Answer) -> dict[str, object]:
    return {name: getattr(answer, name) for name in _ANSWER_FIELDS}


def _response_lock(key: ResponseKey) -> int:
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_responses(session: AsyncSession, keys: Collection[ResponseKey]) -> None:
    """Serialize batches that touch the same responses until this transaction ends.

    Two consumers can briefly hold the same partition around a rebalance; without the
    lock both could count a new response once each. Locks are taken in one global
    order so that two such batches cannot deadlock.
    """
    locks = sorted({_response_lock(key) for key in keys})
    if locks:
        await session.execute(
            text("select pg_advisory_xact_lock(k) from unnest(cast(:locks as bigint[])) as k"),
            {"locks": locks},
        )


async def insert_revisions(session: AsyncSession, incoming: Sequence[Answer]) -> None:
    """Keep every revision of every answer; a redelivered revision is already there."""
    if incoming:
        statement = insert(answer_revisions).on_conflict_do_nothing()
        await session.execute(statement, [_answer_row(answer) for answer in incoming])


async def latest_answers(
    session: AsyncSession, keys: Collection[ResponseKey]
) -> dict[ResponseKey, Answer]:
    """The latest stored revision of each of these responses that has one."""
    if not keys:
        return {}
    columns = [answers.c[name] for name in _ANSWER_FIELDS]
    statement = select(*columns).where(
        tuple_(answers.c.workspace_id, answers.c.response_id).in_(sorted(keys))
    )
    found = (await session.execute(statement)).mappings()
    return {(row["workspace_id"], row["response_id"]): Answer(**row) for row in found}


async def save_latest(session: AsyncSession, latest: Sequence[Answer]) -> None:
    """Make these answers the latest revision of their responses (never an older one)."""
    if not latest:
        return
    statement = insert(answers)
    updated = {name: statement.excluded[name] for name in _ANSWER_FIELDS[2:]}
    statement = statement.on_conflict_do_update(
        index_elements=[answers.c.workspace_id, answers.c.response_id],
        set_={**updated, "recorded_at": func.now()},
        where=statement.excluded.revision > answers.c.revision,
    )
    await session.execute(statement, [_answer_row(answer) for answer in latest])


def _key_row(key: RollupKey) -> dict[str, object]:
    return {
        "workspace_id": key.workspace_id,
        "touchpoint": key.touchpoint,
        "metric": key.metric,
        "channel": key.channel,
        "persona": key.persona,
        "bucket": key.bucket,
    }


async def add_to_rollups(session: AsyncSession, deltas: Mapping[RollupKey, Histogram]) -> None:
    """Add each delta histogram to its rollup row, element by element, in key order."""
    if not deltas:
        return
    statement = insert(rollups)
    summed = array(
        [rollups.c.counts[score] + statement.excluded.counts[score] for score in range(SCORES)]
    )
    statement = statement.on_conflict_do_update(
        index_elements=list(rollups.primary_key.columns), set_={"counts": summed}
    )
    rows = [{**_key_row(key), "counts": delta} for key, delta in sorted(deltas.items())]
    await session.execute(statement, rows)


async def insert_sent(
    session: AsyncSession, sent: Sequence[SentInvitation]
) -> list[SentInvitation]:
    """Record invitations as sent; return those not recorded before, each once."""
    unique = {(each.workspace_id, each.invitation_id): each for each in reversed(sent)}
    if not unique:
        return []
    rows = [
        {
            "workspace_id": invitation.workspace_id,
            "invitation_id": invitation.invitation_id,
            "touchpoint": invitation.touchpoint,
            "metric": invitation.metric,
            "channel": invitation.channel,
            "sent_at": invitation.sent_at,
            "persona": invitation.persona,
        }
        for invitation in unique.values()
    ]
    statement = (
        insert(invitations_sent)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(invitations_sent.c.workspace_id, invitations_sent.c.invitation_id)
    )
    recorded = {(row.workspace_id, row.invitation_id) for row in await session.execute(statement)}
    return [invitation for key, invitation in unique.items() if key in recorded]


async def add_to_sent_rollups(session: AsyncSession, counts: Mapping[RollupKey, int]) -> None:
    """Add each count to its sent-rollup row, in key order."""
    if not counts:
        return
    statement = insert(sent_rollups)
    statement = statement.on_conflict_do_update(
        index_elements=list(sent_rollups.primary_key.columns),
        set_={"sent": sent_rollups.c.sent + statement.excluded.sent},
    )
    rows = [{**_key_row(key), "sent": count} for key, count in sorted(counts.items())]
    await session.execute(statement, rows)


async def score_rows(session: AsyncSession, where: Slice) -> list[ScoreRow]:
    """Summed score histograms per metric, time bucket and group over the slice's rollups."""
    sliced = _slice_of(rollups, where, extra=[rollups.c.counts]).subquery()
    sums = [func.sum(sliced.c.counts[score]) for score in range(SCORES)]
    keys = [sliced.c.metric, sliced.c.bucket_start, sliced.c.group_value]
    result = await session.execute(select(*keys, *sums).group_by(*keys))
    return [
        ScoreRow(
            metric=row[0],
            bucket_start=row[1],
            group=row[2],
            counts=[int(count) for count in row[3:]],
        )
        for row in result
    ]


async def sent_rows(session: AsyncSession, where: Slice) -> list[SentRow]:
    """Invitations sent per metric, time bucket and group over the slice's sent rollups."""
    sliced = _slice_of(sent_rollups, where, extra=[sent_rollups.c.sent]).subquery()
    keys = [sliced.c.metric, sliced.c.bucket_start, sliced.c.group_value]
    sent = func.sum(sliced.c.sent).label("sent")
    result = await session.execute(select(*keys, sent).group_by(*keys))
    return [
        SentRow(
            metric=row.metric,
            bucket_start=row.bucket_start,
            group=row.group_value,
            sent=int(row.sent),
        )
        for row in result
    ]


def _slice_of(table: Table, where: Slice, *, extra: Sequence[Column[Any]]) -> Select[Any]:
    # The bucket expression carries bind parameters, so it is computed in a subquery and
    # grouped on outside: Postgres would not match `date_trunc($1, …)` to `date_trunc($4, …)`.
    bucket_start = (
        null()
        if where.granularity == "total"
        else func.date_trunc(
            where.granularity, table.c.bucket, where.timezone, type_=DateTime(timezone=True)
        )
    )
    group_value = null() if where.group_column is None else table.c[where.group_column]
    conditions = [
        table.c.workspace_id == where.workspace_id,
        table.c.bucket >= where.start,
        table.c.bucket < where.end,
    ]
    if where.touchpoint is not None:
        conditions.append(table.c.touchpoint == where.touchpoint)
    return select(
        table.c.metric,
        bucket_start.label("bucket_start"),
        group_value.label("group_value"),
        *extra,
    ).where(and_(*conditions))


# --- Touchpoint context ----------------------------------------------------------------


def _context_row(received: TouchpointReceived) -> dict[str, object]:
    context = TouchpointContext.from_event(received)
    return {
        "workspace_id": context.workspace_id,
        "source": context.source,
        "event_id": context.event_id,
        "touchpoint": context.touchpoint,
        "channel": context.channel,
        "customer_id": context.customer_id,
        "occurred_at": context.occurred_at,
        "attributes": dict(context.attributes),
        "persona": received.event.customer.persona or "",
    }


async def insert_contexts(session: AsyncSession, touchpoints: Sequence[TouchpointReceived]) -> None:
    """Keep what each touchpoint said, and its customer's persona ('' when it names none);
    a redelivered touchpoint is already there."""
    if not touchpoints:
        return
    rows = [_context_row(received) for received in touchpoints]
    await session.execute(insert(touchpoint_contexts).on_conflict_do_nothing(), rows)


async def insert_origins(session: AsyncSession, invitations: Sequence[InvitationChanged]) -> None:
    """Remember which touchpoint each invitation was sent for (any of its events tells)."""
    unique = {(each.workspace_id, each.invitation_id): each for each in invitations}
    if not unique:
        return
    rows = [
        {
            "workspace_id": event.workspace_id,
            "invitation_id": event.invitation_id,
            "source": event.source,
            "event_id": event.event_id,
        }
        for event in unique.values()
    ]
    await session.execute(insert(invitation_origins).on_conflict_do_nothing(), rows)


InvitationKey = tuple[str, uuid.UUID]  # (workspace_id, invitation_id)


async def _of_origin_touchpoints(
    session: AsyncSession, invitations: Collection[InvitationKey], column: Column[Any]
) -> dict[InvitationKey, Any]:
    """`column` of the touchpoint each invitation was sent for, where it is known."""
    if not invitations:
        return {}
    origin, context = invitation_origins, touchpoint_contexts
    statement = (
        select(origin.c.workspace_id, origin.c.invitation_id, column)
        .join(
            context,
            and_(
                context.c.workspace_id == origin.c.workspace_id,
                context.c.source == origin.c.source,
                context.c.event_id == origin.c.event_id,
            ),
        )
        .where(tuple_(origin.c.workspace_id, origin.c.invitation_id).in_(sorted(invitations)))
    )
    result = await session.execute(statement)
    return {(workspace_id, invitation_id): value for workspace_id, invitation_id, value in result}


async def contexts_of(
    session: AsyncSession, invitations: Collection[InvitationKey]
) -> dict[InvitationKey, dict[str, Any]]:
    """The attributes of the touchpoint each invitation was sent for, where known."""
    found = await _of_origin_touchpoints(session, invitations, touchpoint_contexts.c.attributes)
    return {key: dict(attributes) for key, attributes in found.items()}


async def personas_of(
    session: AsyncSession, invitations: Collection[InvitationKey]
) -> dict[InvitationKey, str]:
    """The customer's persona on the touchpoint each invitation was sent for, where that
    touchpoint is known and named one."""
    found = await _of_origin_touchpoints(session, invitations, touchpoint_contexts.c.persona)
    return {key: persona for key, persona in found.items() if persona}
