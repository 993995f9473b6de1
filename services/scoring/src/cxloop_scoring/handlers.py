"""What scoring does with a consumed batch: record answers and invitations sent, in one go.

The batch's transaction commits before the consumer commits its offsets, and every
step is idempotent, so a redelivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from cxloop_shared.config import ConfigCache
from cxloop_shared.db import transaction
from cxloop_shared.events import InvitationChanged, Metric, ResponseRecorded
from cxloop_shared.kafka import Delivery
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_scoring import repository
from cxloop_scoring.rollups import Answer, SentInvitation, revise, sent_counts


class ScoringHandler:
    """The batch handler of scoring's consumer of `cx.responses` and `cx.invitations`."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], configs: ConfigCache) -> None:
        self._sessions = sessions
        self._configs = configs

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        """Record the batch's answers and sent invitations in one transaction."""
        incoming = [
            Answer.from_event(delivery.event)
            for delivery in deliveries
            if isinstance(delivery.event, ResponseRecorded)
        ]
        sent = [
            SentInvitation.from_event(delivery.event, metric=await self._metric_of(delivery.event))
            for delivery in deliveries
            if isinstance(delivery.event, InvitationChanged) and delivery.event.status == "sent"
        ]
        async with transaction(self._sessions) as session:
            await record_answers(session, incoming)
            await record_sent(session, sent)

    async def _metric_of(self, invitation: InvitationChanged) -> Metric | None:
        # The response rate is per metric; an invitation that does not say which metric
        # it asks for is attributed through its touchpoint's configured survey.
        if invitation.metric is not None:
            return invitation.metric
        config = await self._configs.get(invitation.workspace_id)
        measured = config.survey_for(invitation.touchpoint) if config else None
        return measured[1].metric if measured else None


async def record_answers(session: AsyncSession, incoming: Sequence[Answer]) -> None:
    """Keep every revision, and move the latest answers and their rollup counts forward."""
    if not incoming:
        return
    keys = {answer.key for answer in incoming}
    await repository.lock_responses(session, keys)
    await repository.insert_revisions(session, incoming)
    stored = await repository.latest_answers(session, keys)
    revisions = revise(stored=stored, incoming=incoming)
    await repository.save_latest(session, revisions.latest)
    await repository.add_to_rollups(session, revisions.deltas)


async def record_sent(session: AsyncSession, sent: Sequence[SentInvitation]) -> None:
    """Count each invitation sent once, however often its `sent` event arrives."""
    first_seen = await repository.insert_sent(session, sent)
    await repository.add_to_sent_rollups(session, sent_counts(first_seen))
