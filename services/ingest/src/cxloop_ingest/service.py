"""What ingest does with answers and consent: record, revise, queue for Kafka."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import cxloop_shared.topics as topics
from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.errors import Gone, Unprocessable
from cxloop_shared.events import (
    CXI_ITEMS,
    CollectedVia,
    CustomerChanged,
    CxiItems,
    Metric,
    ResponseRecorded,
    cxi_score,
    utcnow,
)
from cxloop_shared.links import AnswerLink, is_open
from cxloop_shared.outbox import Outbox
from cxloop_shared.scales import in_scale, scale
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_ingest import customer_repository, repository
from cxloop_ingest.schemas import ResponseIn

# How far ahead of our clock a caller's timestamp may be before it is an error.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Asked:
    """A question put to a customer: what an answer is an answer to."""

    workspace_id: str
    customer_id: str
    touchpoint: str
    survey: str | None
    metric: Metric
    channel: str | None = None
    invitation_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """The answer as recorded, and whether it changed anything."""

    response: ResponseRecorded
    changed: bool


Items = CxiItems


def scored(metric: Metric, *, score: int | None, items: Items | None) -> tuple[int, Items | None]:
    """The answer's score (and items) after checking them against the question asked.

    A CX Index question is answered by its three items, and its score is their rounded mean;
    every other question by one score on its scale. Raise Unprocessable naming the field.
    """
    if metric == "cxi":
        given = items or {}
        missing = [item for item in CXI_ITEMS if item not in given]
        if missing:
            raise Unprocessable(
                f"items: a CX Index survey is answered with {', '.join(CXI_ITEMS)} "
                f"(1-5 each); missing {', '.join(missing)}"
            )
        for item in CXI_ITEMS:
            if not in_scale("cxi", given[item]):
                raise Unprocessable(f"items.{item}: must be between 1 and 5")
        answered = {item: given[item] for item in CXI_ITEMS}
        return cxi_score(answered), answered
    if items is not None:
        raise Unprocessable("items: only a CX Index (cxi) survey is answered with items")
    if score is None:
        raise Unprocessable("score: this survey needs a score")
    if not in_scale(metric, score):
        valid = scale(metric)
        raise Unprocessable(f"score must be between {valid.start} and {valid.stop - 1}")
    return score, None


async def record_answer(
    session: AsyncSession,
    *,
    outbox: Outbox,
    asked: Asked,
    response_id: str,
    score: int | None,
    comment: str | None,
    via: CollectedVia,
    answered_at: datetime,
    items: Items | None = None,
) -> Recorded:
    """Record a new answer, or a new revision of it; the same answer twice is not a revision.

    An erased customer's answer still counts, but what they wrote is not kept, nor
    whose answer it is: it is recorded and published without its comment.
    """
    score, items = scored(asked.metric, score=score, items=items)
    erased = await customer_repository.erased_among(
        session, [(asked.workspace_id, asked.customer_id)]
    )
    if erased:
        comment = None
    previous = await repository.latest_answer(
        session, workspace_id=asked.workspace_id, response_id=response_id
    )
    revision = previous.revision + 1 if previous else 1
    if previous is not None and (previous.score, previous.items, previous.comment) == (
        score,
        items,
        comment,
    ):
        revision = previous.revision  # the same answer again (a double submit) is no revision
    unchanged = previous is not None and revision == previous.revision
    response = ResponseRecorded(
        workspace_id=asked.workspace_id,
        response_id=response_id,
        invitation_id=asked.invitation_id,
        customer_id=asked.customer_id,
        touchpoint=asked.touchpoint,
        survey=asked.survey,
        metric=asked.metric,
        channel=asked.channel,
        score=score,
        items=items,
        comment=comment,
        revision=revision,
        answered_at=answered_at,
        collected_via=via,
    )
    if unchanged:
        return Recorded(response, changed=False)
    await repository.save_answer(
        session,
        workspace_id=asked.workspace_id,
        response_id=response_id,
        invitation_id=asked.invitation_id,
        revision=revision,
        score=score,
        items=items,
        comment=comment,
        answered_at=answered_at,
        customer_id=None if erased else asked.customer_id,
    )
    await outbox.add(session, [(topics.RESPONSES, response)])
    return Recorded(response, changed=True)


async def record_link_answer(
    session: AsyncSession,
    *,
    outbox: Outbox,
    link: AnswerLink,
    score: int | None,
    comment: str | None,
    items: Items | None = None,
) -> ResponseRecorded:
    """Record (or revise) the answer to the invitation behind `link`."""
    now = utcnow()
    if not is_open(link, now=now):
        raise Gone("the answer window for this survey has closed")
    asked = Asked(
        workspace_id=link.workspace_id,
        customer_id=link.customer_id,
        touchpoint=link.touchpoint,
        survey=link.survey,
        metric=link.metric,
        channel=link.channel,
        invitation_id=link.invitation_id,
    )
    recorded = await record_answer(
        session,
        outbox=outbox,
        asked=asked,
        response_id=str(link.invitation_id),
        score=score,
        items=items,
        comment=comment,
        via="link",
        answered_at=now,
    )
    return recorded.response


async def record_api_answer(
    session: AsyncSession,
    *,
    outbox: Outbox,
    workspace_id: str,
    config: WorkspaceConfig | None,
    answer: ResponseIn,
) -> Recorded:
    """An answer collected elsewhere (IVR, agent desk, in-app), idempotent by its id."""
    measured = config.survey_for(answer.touchpoint) if config else None
    if measured is None:
        raise Unprocessable(
            f"touchpoint: {answer.touchpoint!r} is not a configured touchpoint of this workspace"
        )
    touchpoint, survey = measured
    now = utcnow()
    answered_at = answer.answered_at or now
    if answered_at > now + CLOCK_SKEW:
        raise Unprocessable("answered_at: lies in the future")
    asked = Asked(
        workspace_id=workspace_id,
        customer_id=answer.customer_id,
        touchpoint=answer.touchpoint,
        survey=touchpoint.survey,
        metric=survey.metric,
        channel=answer.channel,
        invitation_id=answer.invitation_id,
    )
    return await record_answer(
        session,
        outbox=outbox,
        asked=asked,
        response_id=answer.id,
        score=answer.score,
        items=answer.items,
        comment=answer.comment,
        via="api",
        answered_at=answered_at,
    )


async def change_consent(
    session: AsyncSession,
    *,
    outbox: Outbox,
    workspace_id: str,
    customer_id: str,
    channel: str,
    change: Literal["opt_out", "opt_in"],
    address_digest: str | None = None,
) -> None:
    """Publish an opt-out or opt-in on `cx.customers`; dispatch owns consent and applies it."""
    event = CustomerChanged(
        workspace_id=workspace_id,
        customer_id=customer_id,
        change=change,
        channel=channel,
        address_digest=address_digest,
        changed_at=utcnow(),
    )
    await outbox.add(session, [(topics.CUSTOMERS, event)])
