"""Consumed touchpoints become decisions: decide, store the invitation, queue its event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from cxloop_shared import topics, tracing
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
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_dispatch import profiles, repository
from cxloop_dispatch.policy import ADDRESS_OF_KIND, Decision, Sent, decide
from cxloop_dispatch.profiles import StoredCustomer
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
        id=invitation_id(touchpoint),
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
        trace=tracing.headers_for(touchpoint) or None,
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


CustomerKey = tuple[str, str]  # (workspace_id, customer_id)

DECISIONS = Counter(
    "cxloop_dispatch_decisions_total",
    "Touchpoints decided, by outcome and reason",
    ["outcome", "reason"],
)


class TouchpointHandler:
    """Handles a consumed batch of touchpoints in one transaction.

    What the policy needs for the whole batch (profiles, opt-outs by address,
    fatigue history, which events were decided before) is loaded in a few
    statements, the decisions are taken in memory in the batch's order, and the
    invitations are written in one statement. Invitations decided earlier in the
    batch count in the fatigue history of later ones.
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
        touchpoints = [d.event for d in deliveries if isinstance(d.event, TouchpointReceived)]
        if not touchpoints:
            return
        configs = {t.workspace_id: await self._configs.get(t.workspace_id) for t in touchpoints}
        async with transaction(self._sessions) as session:
            decided = await repository.existing_invitations(
                session, [invitation_id(t) for t in touchpoints]
            )
            keys = sorted({(t.workspace_id, t.event.customer.id) for t in touchpoints})
            stored = await repository.load_customers(session, keys)
            changed = {
                key
                for t in touchpoints
                if profiles.observe(
                    stored[key := (t.workspace_id, t.event.customer.id)],
                    t.event.customer,
                    t.event.occurred_at,
                )
            }
            blocked = await repository.opted_out_addresses(session, self._digests(stored).values())
            histories = await repository.fatigue_histories(
                session, keys, since=self._since(touchpoints, configs, now)
            )
            invitations: list[Invitation] = []
            for touchpoint in touchpoints:
                if invitation_id(touchpoint) in decided:
                    continue  # a redelivery: the first decision stands
                decided.add(invitation_id(touchpoint))
                key = (touchpoint.workspace_id, touchpoint.event.customer.id)
                config = configs[touchpoint.workspace_id]
                touchpoint = with_known_customer(touchpoint, stored[key])
                digests = self._digests({key: stored[key]}).get(key, ())
                profile = profiles.profile(
                    stored[key],
                    blocked_channels=frozenset().union(
                        *(blocked.get((key[0], d), frozenset()) for d in digests)
                    ),
                )
                decision = decide(
                    touchpoint=touchpoint,
                    config=config,
                    now=now,
                    profile=profile,
                    history=histories.get(key, []),
                )
                invitation = invitation_for(touchpoint, decision, config)
                invitations.append(invitation)
                if decision.outcome == "scheduled" and decision.send_at is not None:
                    histories.setdefault(key, []).append(
                        Sent(
                            touchpoint=invitation.touchpoint,
                            survey=invitation.survey or "",
                            channel=invitation.channel or "",
                            at=decision.send_at,
                        )
                    )
            await repository.add_invitations(session, invitations)
            for invitation in invitations:
                # Reasons are a closed set (rule names with their period), fine as a label.
                DECISIONS.labels(invitation.status, invitation.reason.split(":")[0]).inc()
            await repository.save_customers(session, {key: stored[key] for key in changed})
            await self._outbox.add(
                session,
                [
                    (topics.INVITATIONS, invitation_changed(i, status=i.status, at=now))
                    for i in invitations
                ],
            )

    def _digests(
        self, stored: dict[CustomerKey, StoredCustomer]
    ) -> dict[CustomerKey, tuple[str, ...]]:
        """Each customer's known addresses as keyed digests, for opt-outs by address."""
        return {
            key: tuple(
                address_digest(address, workspace_id=key[0], secret=self._secret)
                for address in (customer.fields.get("phone"), customer.fields.get("email"))
                if address
            )
            for key, customer in stored.items()
        }

    @staticmethod
    def _since(
        touchpoints: Sequence[TouchpointReceived],
        configs: dict[str, WorkspaceConfig | None],
        now: datetime,
    ) -> datetime:
        """How far back fatigue rules can look for any touchpoint in the batch."""
        longest = max(
            (rule.per for c in configs.values() if c for rule in c.fatigue), default=timedelta(0)
        )
        earliest = min(t.event.occurred_at for t in touchpoints)
        return min(now, earliest) - longest


def invitation_id(touchpoint: TouchpointReceived) -> uuid.UUID:
    """Derived from the event, so a redelivered event maps to the same invitation."""
    return uuid.uuid5(
        uuid.NAMESPACE_URL,
        f"cxloop:{touchpoint.workspace_id}:{touchpoint.source}:{touchpoint.event.id}",
    )


def with_known_customer(
    touchpoint: TouchpointReceived, stored: StoredCustomer
) -> TouchpointReceived:
    """The touchpoint with the newest observation of each customer field, from any event."""
    event = touchpoint.event
    known = {name: stored.fields.get(name) for name in profiles.FIELDS}
    customer = event.customer.model_copy(update=known)
    return touchpoint.model_copy(update={"event": event.model_copy(update={"customer": customer})})


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
                    # While the addresses are still known: provider errors may quote them.
                    known = [stored.fields[k] for k in ("email", "phone") if k in stored.fields]
                    await repository.scrub_send_logs(
                        session, workspace_id=workspace_id, customer_id=customer_id, addresses=known
                    )
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
