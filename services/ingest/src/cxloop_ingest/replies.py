"""SMS replies: which question a text answers, and what to text back.

An SMS reply carries only the sender's number. Ingest keeps, from
`cx.invitations`, a keyed digest of the address every invitation went to, so a
reply finds the customer's newest open SMS invitation without personal data
crossing Kafka. The reply itself is deduplicated by its message id, because
Twilio retries a webhook that timed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from cxloop_shared.config import ConfigCache, WorkspaceConfig
from cxloop_shared.db import transaction
from cxloop_shared.events import InvitationChanged, Metric, utcnow
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from cxloop_shared.scales import scale
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_ingest import customer_repository, repository, service
from cxloop_ingest.sms import MAX_COMMENT, parse_reply

TEXTS = {
    "thanks": "Thank you for your answer! Reply with another number to change it.",
    "retry": "Sorry, we did not get that. Please reply with a number from {low} to {high}.",
    "use_link": "Thank you! This survey has three short questions: please answer them "
    "with the link in our message.",
}


class InvitationHandler:
    """Remembers invitations sent to an address, from a consumed batch of `cx.invitations`."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], configs: ConfigCache) -> None:
        self._sessions = sessions
        self._configs = configs

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        sent = [
            d.event
            for d in deliveries
            if isinstance(d.event, InvitationChanged) and d.event.status == "sent"
        ]
        async with transaction(self._sessions) as session:
            # An erased customer's address is not kept: a text from it finds no question.
            erased = await customer_repository.erased_among(
                session, {(e.workspace_id, e.customer_id) for e in sent}
            )
            for event in sent:
                if (event.workspace_id, event.customer_id) in erased:
                    continue
                if not (event.address_digest and event.survey and event.metric and event.channel):
                    continue
                config = await self._configs.get(event.workspace_id)
                window = config.settings.answer_window if config else None
                if window is None:
                    continue
                await repository.save_sent_invitation(
                    session,
                    {
                        "workspace_id": event.workspace_id,
                        "invitation_id": event.invitation_id,
                        "address_digest": event.address_digest,
                        "customer_id": event.customer_id,
                        "touchpoint": event.touchpoint,
                        "survey": event.survey,
                        "metric": event.metric,
                        "channel": event.channel,
                        "sent_at": event.changed_at,
                        "answer_until": event.changed_at + window,
                    },
                )


@dataclass(frozen=True, slots=True)
class SmsReply:
    """An inbound text, already verified as coming through the workspace's channel."""

    workspace_id: str
    channel: str
    message_id: str
    address_digest: str
    text: str


async def handle_sms_reply(
    session: AsyncSession,
    *,
    outbox: Outbox,
    config: WorkspaceConfig,
    reply: SmsReply,
    now: datetime | None = None,
) -> str | None:
    """Record what the text says; return the text to send back, if any."""
    now = now or utcnow()
    first_time = await repository.remember_events(
        session, [(reply.workspace_id, f"sms:{reply.channel}", reply.message_id)]
    )
    if not first_time:
        return None  # a retried webhook: it was handled, and answered, already
    sms_channels = [k for k, c in config.channels.items() if c.kind == "twilio"]
    invitation = await repository.latest_sent_invitation(
        session,
        workspace_id=reply.workspace_id,
        address_digest=reply.address_digest,
        channels=sms_channels,
        open_at=now,
    )
    metric = cast("Metric", invitation.metric) if invitation else None
    understood = parse_reply(reply.text, metric)
    if understood.kind in ("opt_out", "opt_in"):
        known = invitation or await repository.latest_sent_invitation(
            session,
            workspace_id=reply.workspace_id,
            address_digest=reply.address_digest,
            channels=sms_channels,
            open_at=None,
        )
        # Twilio confirms STOP and START itself; a second text would be noise.
        if known is not None:
            await service.change_consent(
                session,
                outbox=outbox,
                workspace_id=reply.workspace_id,
                customer_id=known.customer_id,
                channel=reply.channel,
                change=understood.kind,
                address_digest=reply.address_digest,
            )
        return None
    if invitation is None or metric is None:
        return None
    response_id = str(invitation.invitation_id)
    score, comment = understood.score, understood.comment
    items = None
    previous = None
    if understood.kind == "not_a_score" or metric == "cxi":
        previous = await repository.latest_answer(
            session, workspace_id=reply.workspace_id, response_id=response_id
        )
    if metric == "cxi":
        # Three 1-5 questions don't fit one text: the link answers them, and a text after
        # that is the comment to the answer given there.
        if previous is None or previous.items is None:
            return TEXTS["use_link"]
        score, items = None, previous.items
        comment = reply.text.strip()[:MAX_COMMENT] or None
    elif understood.kind == "not_a_score" and previous is not None:
        # Words after a score are the comment to it: "9" then "the agent was great".
        score, comment = previous.score, reply.text.strip()[:MAX_COMMENT] or None
    if metric != "cxi" and (score is None or understood.kind == "out_of_scale"):
        valid = scale(metric)
        return TEXTS["retry"].format(low=valid.start, high=valid.stop - 1)
    asked = service.Asked(
        workspace_id=reply.workspace_id,
        customer_id=invitation.customer_id,
        touchpoint=invitation.touchpoint,
        survey=invitation.survey,
        metric=metric,
        channel=invitation.channel,
        invitation_id=invitation.invitation_id,
    )
    await service.record_answer(
        session,
        outbox=outbox,
        asked=asked,
        response_id=response_id,
        score=score,
        items=items,
        comment=comment,
        via="sms",
        answered_at=now,
    )
    return TEXTS["thanks"]
