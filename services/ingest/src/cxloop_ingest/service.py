"""What ingest does with what it receives: dedupe, make durable, queue for Kafka."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cxloop_shared import topics
from cxloop_shared.errors import Gone, Unprocessable
from cxloop_shared.events import ResponseRecorded, Touchpoint, TouchpointReceived, utcnow
from cxloop_shared.links import AnswerLink, is_open
from cxloop_shared.outbox import Outbox
from cxloop_shared.scales import in_scale, scale
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_ingest import repository


@dataclass(frozen=True, slots=True)
class Accepted:
    """How many items were new and how many were duplicates."""

    accepted: int
    duplicates: int


async def accept_touchpoints(
    session: AsyncSession,
    *,
    outbox: Outbox,
    workspace_id: str,
    source: str,
    touchpoints: Sequence[Touchpoint],
) -> Accepted:
    """Queue every touchpoint not seen before from this source; duplicates publish nothing."""
    fresh = await repository.remember_events(
        session, workspace_id=workspace_id, source=source, event_ids=[t.id for t in touchpoints]
    )
    received_at = utcnow()
    queued: list[tuple[str, TouchpointReceived]] = []
    for touchpoint in touchpoints:
        if touchpoint.id in fresh:
            fresh.discard(touchpoint.id)  # the same id twice in one batch counts once
            event = TouchpointReceived(
                workspace_id=workspace_id, source=source, received_at=received_at, event=touchpoint
            )
            queued.append((topics.TOUCHPOINTS, event))
    await outbox.add(session, queued)
    return Accepted(accepted=len(queued), duplicates=len(touchpoints) - len(queued))


async def record_link_answer(
    session: AsyncSession,
    *,
    outbox: Outbox,
    link: AnswerLink,
    score: int,
    comment: str | None,
) -> ResponseRecorded:
    """Record (or revise) the answer to the invitation behind `link`."""
    now = utcnow()
    if not is_open(link, now=now):
        raise Gone("the answer window for this survey has closed")
    if not in_scale(link.metric, score):
        valid = scale(link.metric)
        raise Unprocessable(f"score must be between {valid.start} and {valid.stop - 1}")
    response_id = str(link.invitation_id)
    previous = await repository.latest_answer(
        session, workspace_id=link.workspace_id, response_id=response_id
    )
    if previous and previous.score == score and previous.comment == comment:
        revision = previous.revision  # a double submit is not a revision
    else:
        revision = previous.revision + 1 if previous else 1
    response = ResponseRecorded(
        workspace_id=link.workspace_id,
        response_id=response_id,
        invitation_id=link.invitation_id,
        customer_id=link.customer_id,
        touchpoint=link.touchpoint,
        survey=link.survey,
        metric=link.metric,
        channel=link.channel,
        score=score,
        comment=comment,
        revision=revision,
        answered_at=now,
        collected_via="link",
    )
    if previous is None or revision != previous.revision:
        await repository.save_answer(
            session,
            workspace_id=link.workspace_id,
            response_id=response_id,
            invitation_id=link.invitation_id,
            revision=revision,
            score=score,
            comment=comment,
            answered_at=now,
        )
        await outbox.add(session, [(topics.RESPONSES, response)])
    return response
