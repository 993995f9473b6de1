"""Consumed touchpoints become decisions: decide, store the invitation, queue its event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from cxloop_shared import topics
from cxloop_shared.config import ConfigCache, WorkspaceConfig
from cxloop_shared.db import transaction
from cxloop_shared.events import (
    CustomerChanged,
    InvitationChanged,
    ResponseRecorded,
    TouchpointReceived,
    utcnow,
)
from cxloop_shared.kafka import Delivery
from cxloop_shared.links import address_digest
from cxloop_shared.outbox import Outbox
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_dispatch import profiles, repository
from cxloop_dispatch.policy import ADDRESS_OF_KIND, Decision, Profile, Sent, decide
from cxloop_dispatch.repository import Invitation


def invitation_for(
    touchpoint: TouchpointReceived, decision: Decision, config: WorkspaceConfig | None = None
) -> Invitation:
    """The invitation row that records `decision` for `touchpoint`."""
    event = touchpoint.event
    address = None
    if decision.channel is not None and config is not None:
        kind = config.channels[decision.channel].kind
        address = getattr(event.customer, ADDRESS_OF_KIND[kind], None)
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
        timezone=event.customer.timezone or (config.timezone if config else None),
        send_at=decision.send_at,
        expires_at=decision.expires_at,
    )


def invitation_changed(
    invitation: Invitation, *, status: str, at: datetime, address_digest: str | None = None
) -> InvitationChanged:
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
        address_digest=address_digest,
        changed_at=at,
    )


class TouchpointHandler:
    """Handles a consumed batch of touchpoints in one transaction.

    For each touchpoint: fold the customer's fields into their profile, load what
    the policy needs (profile, opt-outs by address, fatigue history), decide, and
    store the decision with its event. Invitations decided earlier in the same
    batch are already in the history of later ones.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        configs: ConfigCache,
        outbox: Outbox,
        link_secret: str,
    ) -> None:
        self._sessions = sessions
        self._configs = configs
        self._outbox = outbox
        self._secret = link_secret

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        now = utcnow()
        async with transaction(self._sessions) as session:
            queued: list[tuple[str, InvitationChanged]] = []
            for delivery in deliveries:
                touchpoint = delivery.event
                if not isinstance(touchpoint, TouchpointReceived):
                    continue
                config = await self._configs.get(touchpoint.workspace_id)
                touchpoint, profile, history = await self._inputs(session, touchpoint, config, now)
                decision = decide(
                    touchpoint=touchpoint, config=config, now=now, profile=profile, history=history
                )
                invitation = invitation_for(touchpoint, decision, config)
                if await repository.add_invitation(session, invitation):
                    changed = invitation_changed(invitation, status=invitation.status, at=now)
                    queued.append((topics.INVITATIONS, changed))
            await self._outbox.add(session, queued)

    async def _inputs(
        self,
        session: AsyncSession,
        touchpoint: TouchpointReceived,
        config: WorkspaceConfig | None,
        now: datetime,
    ) -> tuple[TouchpointReceived, Profile, list[Sent]]:
        event, workspace_id = touchpoint.event, touchpoint.workspace_id
        stored = await repository.load_customer(
            session, workspace_id=workspace_id, customer_id=event.customer.id
        )
        if profiles.observe(stored, event.customer, event.occurred_at):
            await repository.save_customer(
                session, workspace_id=workspace_id, customer_id=event.customer.id, stored=stored
            )
        # The newest observation of each field, whichever event it came from.
        known = {name: stored.fields.get(name) for name in profiles.FIELDS}
        customer = event.customer.model_copy(update=known)
        touchpoint = touchpoint.model_copy(
            update={"event": event.model_copy(update={"customer": customer})}
        )
        digests = [
            address_digest(address, workspace_id=workspace_id, secret=self._secret)
            for address in (customer.phone, customer.email)
            if address
        ]
        blocked = await repository.channels_opted_out_by_address(
            session, workspace_id=workspace_id, digests=digests
        )
        history: list[Sent] = []
        if config and config.fatigue:
            longest = max(rule.per for rule in config.fatigue)
            history = await repository.fatigue_history(
                session,
                workspace_id=workspace_id,
                customer_id=customer.id,
                since=min(now, event.occurred_at) - longest,
            )
        return touchpoint, profiles.profile(stored, blocked_channels=blocked), history


class CustomerHandler:
    """Applies `cx.customers`: consent per channel or per address, and erasure."""

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
                change = delivery.event
                if not isinstance(change, CustomerChanged):
                    continue
                workspace_id, customer_id = change.workspace_id, change.customer_id
                stored = await repository.load_customer(
                    session, workspace_id=workspace_id, customer_id=customer_id
                )
                if change.change == "erasure":
                    profiles.erase(stored, change.changed_at)
                    for cancelled in await repository.cancel_for_erasure(
                        session, workspace_id=workspace_id, customer_id=customer_id
                    ):
                        queued.append(
                            (
                                topics.INVITATIONS,
                                invitation_changed(cancelled, status="suppressed", at=now),
                            )
                        )
                else:
                    profiles.change_consent(
                        stored, change=change.change, channel=change.channel, at=change.changed_at
                    )
                    if change.address_digest and change.channel:
                        await repository.set_address_opt_out(
                            session,
                            workspace_id=workspace_id,
                            address_digest=change.address_digest,
                            channel=change.channel,
                            opted_out=change.change == "opt_out",
                            at=change.changed_at,
                        )
                await repository.save_customer(
                    session, workspace_id=workspace_id, customer_id=customer_id, stored=stored
                )
            await self._outbox.add(session, queued)


class ResponseHandler:
    """Notes answered invitations from `cx.responses`, so they get no more reminders."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        answered = [
            d.event.invitation_id
            for d in deliveries
            if isinstance(d.event, ResponseRecorded) and d.event.invitation_id is not None
        ]
        if answered:
            async with transaction(self._sessions) as session:
                await repository.mark_answered(session, invitation_ids=answered, at=utcnow())
