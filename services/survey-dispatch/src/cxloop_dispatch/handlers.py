"""Consumed touchpoints become decisions: decide, store the invitation, queue its event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from cxloop_shared import topics
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import transaction
from cxloop_shared.events import InvitationChanged, TouchpointReceived, utcnow
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_dispatch import repository
from cxloop_dispatch.policy import Decision, decide
from cxloop_dispatch.repository import Invitation


def invitation_for(touchpoint: TouchpointReceived, decision: Decision) -> Invitation:
    """The invitation row that records `decision` for `touchpoint`."""
    event = touchpoint.event
    address = None
    if decision.channel is not None:
        address = event.customer.email  # email is the one channel kind sent so far
    return Invitation(
        # Derived from the event, so a redelivered event maps to the same invitation.
        id=uuid.uuid5(
            uuid.NAMESPACE_URL, f"cxloop:{touchpoint.workspace_id}:{touchpoint.source}:{event.id}"
        ),
        workspace_id=touchpoint.workspace_id,
        source=touchpoint.source,
        event_id=event.id,
        touchpoint=event.touchpoint,
        customer_id=event.customer.id,
        status=decision.outcome,
        reason=decision.reason,
        occurred_at=event.occurred_at,
        survey=decision.survey,
        metric=decision.metric,
        channel=decision.channel,
        address=address,
        locale=event.customer.locale,
        send_at=decision.send_at,
        expires_at=decision.expires_at,
    )


def invitation_changed(invitation: Invitation, *, status: str, at: datetime) -> InvitationChanged:
    """The `cx.invitations` event for a step in the invitation's life."""
    return InvitationChanged(
        workspace_id=invitation.workspace_id,
        invitation_id=invitation.id,
        event_id=invitation.event_id,
        source=invitation.source,
        touchpoint=invitation.touchpoint,
        customer_id=invitation.customer_id,
        status=status,  # type: ignore[arg-type]
        reason=invitation.reason,
        survey=invitation.survey,
        metric=invitation.metric,  # type: ignore[arg-type]
        channel=invitation.channel,
        send_at=invitation.send_at,
        expires_at=invitation.expires_at,
        changed_at=at,
    )


class TouchpointHandler:
    """Handles a consumed batch of touchpoints in one transaction."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], configs: ConfigCache, outbox: Outbox
    ) -> None:
        self._sessions = sessions
        self._configs = configs
        self._outbox = outbox

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        now = utcnow()
        async with transaction(self._sessions) as session:
            queued: list[tuple[str, InvitationChanged]] = []
            for delivery in deliveries:
                touchpoint = delivery.event
                if not isinstance(touchpoint, TouchpointReceived):
                    continue
                config = await self._configs.get(touchpoint.workspace_id)
                decision = decide(touchpoint=touchpoint, config=config, now=now)
                invitation = invitation_for(touchpoint, decision)
                if await repository.add_invitation(session, invitation):
                    changed = invitation_changed(invitation, status=invitation.status, at=now)
                    queued.append((topics.INVITATIONS, changed))
            await self._outbox.add(session, queued)
