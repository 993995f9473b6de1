"""What scoring does with a consumed batch.

Answers and invitations: record the answers and invitations sent, each stamped with the
persona of the customer on the touchpoint its invitation was sent for, raise the
alerts the answers match (published on `cx.alerts` through the outbox), and queue
the webhooks the workspace's endpoints subscribe to, all in one transaction.
Touchpoints: keep what each one said, the context an alert on its answer carries, and
the customer's persona.

The persona is stamped as scoring knows it when the answer is recorded, and never
changed afterwards (a revision is stamped anew): the rollups stay a function of the
raw rows. A touchpoint consumed only after its answer leaves that answer's persona ''.

Data about a customer erased before it arrived is stored as the erasure left the rest
(`erasure.erased_among`, `redaction`): under their pseudonym, without comment or
personal attributes. It counts in the rollups, and raises no alert and queues no webhook.

The batch's transaction commits before the consumer commits its offsets, and every
step is idempotent, so a redelivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from cxloop_shared import topics
from cxloop_shared.answers import AlertView
from cxloop_shared.config import ConfigCache, WorkspaceConfig
from cxloop_shared.db import transaction
from cxloop_shared.events import (
    InvitationChanged,
    Metric,
    ResponseRecorded,
    TouchpointReceived,
    utcnow,
)
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_scoring import alert_repository, erasure, redaction, repository, webhooks
from cxloop_scoring.alerts import Alert, alerts_for
from cxloop_scoring.rollups import Answer, SentInvitation, revise, sent_counts

Configs = Mapping[str, WorkspaceConfig | None]


class ScoringHandler:
    """The batch handler of scoring's consumer of `cx.responses` and `cx.invitations`."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], configs: ConfigCache, outbox: Outbox
    ) -> None:
        self._sessions = sessions
        self._configs = configs
        self._outbox = outbox

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        """Record the batch, raise its alerts and queue its webhooks in one transaction."""
        events = [delivery.event for delivery in deliveries]
        incoming = [Answer.from_event(e) for e in events if isinstance(e, ResponseRecorded)]
        invitations = [e for e in events if isinstance(e, InvitationChanged)]
        configs = {
            workspace_id: await self._configs.get(workspace_id)
            for workspace_id in sorted({event.workspace_id for event in events})
        }
        async with transaction(self._sessions) as session:
            erased = await erasure.erased_among(
                session,
                {(a.workspace_id, a.customer_id) for a in incoming}
                | {(e.workspace_id, e.customer_id) for e in invitations},
            )
            incoming = redaction.erased_answers(incoming, erased)
            await repository.insert_origins(session, invitations)
            personas = await repository.personas_of(
                session,
                {_invitation_key(a) for a in incoming if a.invitation_id is not None}
                | {(e.workspace_id, e.invitation_id) for e in invitations},
            )
            sent = [
                SentInvitation.from_event(
                    event,
                    metric=_metric_of(event, configs),
                    persona=personas.get((event.workspace_id, event.invitation_id), ""),
                )
                for event in invitations
                if event.status == "sent"
            ]
            advanced = await record_answers(session, with_personas(incoming, personas))
            await record_sent(session, sent)
            # An erased customer still counts, but is followed up by nobody: no alert
            # and no webhook is about them.
            stand_ins = set(erased.values())
            followed = [a for a in advanced if a.customer_id not in stand_ins]
            told = [e for e in invitations if (e.workspace_id, e.customer_id) not in erased]
            contexts = await repository.contexts_of(
                session, {_invitation_key(a) for a in followed if a.invitation_id is not None}
            )
            raised = await raise_alerts(
                session, self._outbox, answers=followed, contexts=contexts, configs=configs
            )
            queued = [
                *_alert_messages(raised, configs),
                *_answer_messages(followed, contexts, configs),
                *_invitation_messages(told, configs),
            ]
            await alert_repository.insert_deliveries(session, queued, now=utcnow())


class TouchpointHandler:
    """The batch handler of scoring's consumer of `cx.touchpoints`."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        """Keep the context and persona of every touchpoint in the batch."""
        received = [
            delivery.event
            for delivery in deliveries
            if isinstance(delivery.event, TouchpointReceived)
        ]
        async with transaction(self._sessions) as session:
            erased = await erasure.erased_among(
                session, {(r.workspace_id, r.event.customer.id) for r in received}
            )
            await repository.insert_contexts(
                session, redaction.erased_touchpoints(received, erased)
            )


def _metric_of(invitation: InvitationChanged, configs: Configs) -> Metric | None:
    # The response rate is per metric; an invitation that does not say which metric
    # it asks for is attributed through its touchpoint's configured survey.
    if invitation.metric is not None:
        return invitation.metric
    config = configs.get(invitation.workspace_id)
    measured = config.survey_for(invitation.touchpoint) if config else None
    return measured[1].metric if measured else None


def _invitation_key(answer: Answer) -> repository.InvitationKey:
    assert answer.invitation_id is not None
    return (answer.workspace_id, answer.invitation_id)


def with_personas(
    answers: Sequence[Answer], personas: Mapping[repository.InvitationKey, str]
) -> list[Answer]:
    """The answers stamped with their invitation's persona ('' when unknown)."""
    return [
        replace(answer, persona=personas.get(_invitation_key(answer), ""))
        if answer.invitation_id is not None
        else answer
        for answer in answers
    ]


def _context_of(
    answer: Answer, contexts: Mapping[repository.InvitationKey, dict[str, Any]]
) -> dict[str, Any]:
    """The touchpoint context of the answer's invitation; empty without one."""
    if answer.invitation_id is None:
        return {}
    return contexts.get(_invitation_key(answer), {})


async def record_answers(session: AsyncSession, incoming: Sequence[Answer]) -> list[Answer]:
    """Keep every revision, move the latest answers and their rollup counts forward;
    return the answers that moved their response forward, in arrival order."""
    if not incoming:
        return []
    keys = {answer.key for answer in incoming}
    await repository.lock_responses(session, keys)
    await repository.insert_revisions(session, incoming)
    stored = await repository.latest_answers(session, keys)
    revisions = revise(stored=stored, incoming=incoming)
    await repository.save_latest(session, revisions.latest)
    await repository.add_to_rollups(session, revisions.deltas)
    return revisions.advanced


async def record_sent(session: AsyncSession, sent: Sequence[SentInvitation]) -> None:
    """Count each invitation sent once, however often its `sent` event arrives."""
    first_seen = await repository.insert_sent(session, sent)
    await repository.add_to_sent_rollups(session, sent_counts(first_seen))


async def raise_alerts(
    session: AsyncSession,
    outbox: Outbox,
    *,
    answers: Sequence[Answer],
    contexts: Mapping[repository.InvitationKey, dict[str, Any]],
    configs: Configs,
) -> list[Alert]:
    """Store the alerts the answers raise for the first time and publish them."""
    now = utcnow()
    decided = [
        alert
        for answer in answers
        if (config := configs.get(answer.workspace_id)) is not None and config.alerts
        for alert in alerts_for(
            answer, rules=config.alerts, context=_context_of(answer, contexts), raised_at=now
        )
    ]
    raised = await alert_repository.insert_alerts(session, decided)
    await outbox.add(session, [(topics.ALERTS, alert.event()) for alert in raised])
    return raised


def _alert_messages(raised: Iterable[Alert], configs: Configs) -> list[webhooks.Message]:
    found: list[webhooks.Message] = []
    for alert in raised:
        config = configs.get(alert.answer.workspace_id)
        if config is None:
            continue
        found += webhooks.messages(
            config,
            workspace_id=alert.answer.workspace_id,
            event_type=webhooks.ALERT_CREATED,
            subject=str(alert.alert_id),
            at=alert.raised_at,
            data=AlertView.model_validate(alert.row()).model_dump(mode="json"),
            notify=alert.notify,
        )
    return found


def _answer_messages(
    answers: Iterable[Answer],
    contexts: Mapping[repository.InvitationKey, dict[str, Any]],
    configs: Configs,
) -> list[webhooks.Message]:
    found: list[webhooks.Message] = []
    for answer in answers:
        config = configs.get(answer.workspace_id)
        if config is None:
            continue
        found += webhooks.messages(
            config,
            workspace_id=answer.workspace_id,
            event_type=webhooks.SURVEY_RESPONDED,
            subject=f"{answer.response_id}/{answer.revision}",
            at=answer.answered_at,
            data=webhooks.answer_data(answer, context=_context_of(answer, contexts)),
        )
    return found


def _invitation_messages(
    invitations: Iterable[InvitationChanged], configs: Configs
) -> list[webhooks.Message]:
    found: list[webhooks.Message] = []
    for event in invitations:
        config = configs.get(event.workspace_id)
        if config is None:
            continue
        found += webhooks.messages(
            config,
            workspace_id=event.workspace_id,
            event_type=f"invitation.{event.status}",
            subject=f"{event.invitation_id}/{event.status}/{event.changed_at.isoformat()}",
            at=event.changed_at,
            data=webhooks.invitation_data(event),
        )
    return found
