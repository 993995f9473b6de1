"""Due invitations → channels. Claims with `FOR UPDATE SKIP LOCKED`, so any number of
dispatchers can run; a ledger row before each provider call makes sends safe to retry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from cxloop_shared import topics, tracing
from cxloop_shared.config import ConfigCache, WorkspaceConfig, localized
from cxloop_shared.db import transaction
from cxloop_shared.events import Customer, InvitationChanged, utcnow
from cxloop_shared.links import AnswerLink, UnsubscribeLink, address_digest, sign
from cxloop_shared.outbox import Outbox
from cxloop_shared.scales import scale
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_dispatch import channels, profiles, repository
from cxloop_dispatch.breaker import CircuitBreakers, retry_delay
from cxloop_dispatch.endpoints import callback_path
from cxloop_dispatch.handlers import invitation_changed
from cxloop_dispatch.policy import (
    ADDRESS_OF_KIND,
    customer_zone,
    effective_window,
    first_send_time,
    next_reminder,
    reachable_channels,
)
from cxloop_dispatch.repository import Invitation
from cxloop_dispatch.settings import Settings

log = structlog.get_logger(__name__)

SENDS = Counter("cxloop_sends_total", "Provider sends by channel and result", ["channel", "result"])


CIRCUIT_OPEN = "circuit_open"
DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a send attempt ended."""

    status: str  # sent | retry | failed | unknown
    detail: str | None
    message_id: str | None = None
    retry_after: float | None = None
    retry_at: datetime | None = None


class Scheduler:
    """Sends invitations when they fall due, expires the overdue, settles orphans."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        configs: ConfigCache,
        outbox: Outbox,
        settings: Settings,
    ) -> None:
        self._sessions = sessions
        self._configs = configs
        self._outbox = outbox
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.send_concurrency)
        self._breakers = CircuitBreakers(
            threshold=settings.circuit_failures,
            cooldown=timedelta(seconds=settings.circuit_cooldown_seconds),
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Work until `stopping` is set; a failing round is logged and retried."""
        while not stopping.is_set():
            try:
                await self.settle_orphans()
                await self.expire_overdue()
                await self.requeue_reminders()
                sent = await self.send_due()
            except Exception as exc:
                log.warning("scheduler.round_failed", error=repr(exc)[:300])
                sent = 0
            if sent < self._settings.send_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        stopping.wait(), timeout=self._settings.scheduler_poll_seconds
                    )

    async def settle_orphans(self) -> None:
        """Sends claimed by a dispatcher that died: resend if unsent, else mark unknown."""
        now = utcnow()
        lease = timedelta(seconds=self._settings.send_lease_seconds)
        async with transaction(self._sessions) as session:
            retry, unknown = await repository.recover_stale_sends(
                session, claimed_before=now - lease
            )
            await self._add(
                session, [(i, invitation_changed(i, status="unknown", at=now)) for i in unknown]
            )
        if retry or unknown:
            log.warning("scheduler.orphans_settled", rescheduled=len(retry), unknown=len(unknown))

    async def expire_overdue(self) -> None:
        """Never send after expiry: overdue invitations become `expired`."""
        now = utcnow()
        async with transaction(self._sessions) as session:
            expired = await repository.expire_overdue(session, now=now, limit=1000)
            await self._add(
                session, [(i, invitation_changed(i, status="expired", at=now)) for i in expired]
            )

    async def requeue_reminders(self) -> int:
        """Unanswered invitations whose reminder is due are queued to be sent again."""
        async with transaction(self._sessions) as session:
            return await repository.requeue_reminders(
                session, now=utcnow(), limit=self._settings.send_batch
            )

    async def send_due(self) -> int:
        """Claim what is due and send it; return how many were claimed."""
        async with transaction(self._sessions) as session:
            claimed = await repository.claim_due(
                session, now=utcnow(), limit=self._settings.send_batch
            )
        await asyncio.gather(*(self._send(invitation, attempt) for invitation, attempt in claimed))
        return len(claimed)

    async def _send(self, invitation: Invitation, attempt: int) -> None:
        # Each send runs in its own task (gather), so these ids are on every line it logs.
        with structlog.contextvars.bound_contextvars(
            workspace_id=invitation.workspace_id,
            invitation_id=str(invitation.id),
            event_id=invitation.event_id,
        ):
            await self._send_bound(invitation, attempt)

    async def _send_bound(self, invitation: Invitation, attempt: int) -> None:
        key = f"{invitation.workspace_id}:{invitation.channel}"
        blocked_until = self._breakers.open_until(key, utcnow())
        if blocked_until is not None:
            # The provider is failing: wait for the circuit without calling it.
            outcome = Outcome("retry", CIRCUIT_OPEN, retry_at=blocked_until)
        else:
            async with self._slots:
                outcome = await self._deliver(invitation, attempt)
            if outcome.status == "sent":
                self._breakers.succeeded(key)
            elif outcome.status in ("retry", "unknown"):
                self._breakers.failed(key, utcnow())
        now = utcnow()
        status, detail, retry_at = outcome.status, outcome.detail, outcome.retry_at
        if status == DEFERRED:
            status = "retry"
        switch: tuple[str, str] | None = None
        async with transaction(self._sessions) as session:
            if status == "retry" and retry_at is None:
                tries = await repository.provider_attempts(session, invitation_id=invitation.id)
                if tries < self._settings.send_max_attempts:
                    delay = retry_delay(
                        tries,
                        retry_after=outcome.retry_after,
                        base=timedelta(seconds=self._settings.retry_base_seconds),
                    )
                    retry_at = now + delay
                else:
                    status = "failed"
            if retry_at is not None and (
                invitation.expires_at is None or retry_at >= invitation.expires_at
            ):
                status, retry_at = "failed", None
            if status == "failed":
                # The last failure on this channel: the next one in the fallback order.
                fallback = await self._fallback(session, invitation, now)
                if fallback is not None:
                    switch, retry_at = fallback[:2], fallback[2]
                    detail = f"fallback_from:{invitation.channel}:{detail or 'failed'}"[:200]
            await repository.finish_send(
                session,
                invitation_id=invitation.id,
                attempt=attempt,
                status=status,
                detail=detail,
                provider_message_id=outcome.message_id,
                now=now,
                retry_at=retry_at,
                switch_to=switch,
            )
            if status == "sent":
                await self._plan_reminder(session, invitation, now)
            if retry_at is None:
                digest = None
                if status == "sent" and invitation.address:
                    # Lets ingest match an SMS reply to this invitation by its sender.
                    digest = address_digest(
                        invitation.address,
                        workspace_id=invitation.workspace_id,
                        secret=self._settings.link_secret.get_secret_value(),
                    )
                changed = invitation_changed(
                    invitation, status=status, at=now, address_digest=digest
                )
                await self._add(session, [(invitation, changed)])
        SENDS.labels(invitation.channel or "", status).inc()

    async def _add(
        self, session: AsyncSession, steps: Sequence[tuple[Invitation, InvitationChanged]]
    ) -> None:
        """Queue invitation steps on `cx.invitations`, each continuing the trace of the
        touchpoint its invitation was decided for (tracing on, and one was kept)."""
        trace = [
            invitation.trace if tracing.enabled() and invitation.trace else {}
            for invitation, _ in steps
        ]
        events = [(topics.INVITATIONS, changed) for _, changed in steps]
        await self._outbox.add(session, events, trace=trace)

    async def _plan_reminder(
        self, session: AsyncSession, invitation: Invitation, sent_at: datetime
    ) -> None:
        """Set when to remind, if the touchpoint's policy asks for reminders."""
        config = await self._configs.get(invitation.workspace_id)
        measured = config.survey_for(invitation.touchpoint) if config else None
        if config is None or measured is None or invitation.expires_at is None:
            return
        policy = measured[0].policy
        channel = config.channels.get(invitation.channel or "")
        stored = await repository.load_customer(
            session, workspace_id=invitation.workspace_id, customer_id=invitation.customer_id
        )
        remind_at = next_reminder(
            sent_at=sent_at,
            reminder=policy.reminder,
            reminders_sent=invitation.reminders_sent,
            answered=False,
            window=policy.send_window,
            zone=customer_zone(stored.fields.get("timezone"), config.timezone),
            channel_kind=channel.kind if channel else "",
            expires_at=invitation.expires_at,
        )
        if remind_at is not None:
            await repository.set_reminder(session, invitation_id=invitation.id, at=remind_at)

    async def _fallback(
        self, session: AsyncSession, invitation: Invitation, now: datetime
    ) -> tuple[str, str, datetime] | None:
        """The next channel that reaches the customer and was not tried, with its send time."""
        config = await self._configs.get(invitation.workspace_id)
        measured = config.survey_for(invitation.touchpoint) if config else None
        if config is None or measured is None or invitation.expires_at is None:
            return None
        policy = measured[0].policy
        stored = await repository.load_customer(
            session, workspace_id=invitation.workspace_id, customer_id=invitation.customer_id
        )
        profile = profiles.profile(stored)
        customer = Customer(
            id=invitation.customer_id,
            **{
                name: stored.fields.get(name)
                for name in ("email", "phone", "timezone", "locale", "preferred_channel")
            },
        )
        tried = await repository.tried_channels(session, invitation_id=invitation.id)
        tried.add(invitation.channel or "")
        for name in reachable_channels(
            customer=customer, order=policy.channels, channels=config.channels
        ):
            if name in tried or profile.opted_out_of(name):
                continue
            kind = config.channels[name].kind
            windows = effective_window(policy.send_window, kind)
            if not windows:
                continue
            zone = customer_zone(customer.timezone, config.timezone)
            send_at = first_send_time(now, windows, zone)
            address = getattr(customer, ADDRESS_OF_KIND[kind])
            if send_at < invitation.expires_at and address:
                return name, address, send_at
        return None

    def _window_opens(self, invitation: Invitation, config: WorkspaceConfig) -> datetime | None:
        """When the send window next opens, if it is closed now; None if it is open."""
        measured = config.survey_for(invitation.touchpoint)
        channel = config.channels.get(invitation.channel or "")
        if measured is None or channel is None:
            return None
        windows = effective_window(measured[0].policy.send_window, channel.kind)
        now = utcnow()
        if not windows:
            return None
        opens = first_send_time(now, windows, customer_zone(invitation.timezone, config.timezone))
        return opens if opens > now else None

    async def _deliver(self, invitation: Invitation, attempt: int) -> Outcome:
        config = await self._configs.get(invitation.workspace_id)
        if config is None or invitation.channel not in config.channels:
            return Outcome("failed", "channel_not_configured")
        survey_config = config.surveys.get(invitation.survey or "")
        if survey_config is None or invitation.address is None:
            return Outcome("failed", "survey_not_configured")
        opens_at = self._window_opens(invitation, config)
        if opens_at is not None:
            # Late (a backlog, an outage): never at night, wait for the window instead.
            return Outcome(DEFERRED, "quiet_hours_deferred", retry_at=opens_at)
        link = AnswerLink(
            workspace_id=invitation.workspace_id,
            invitation_id=invitation.id,
            customer_id=invitation.customer_id,
            touchpoint=invitation.touchpoint,
            survey=invitation.survey or "",
            metric=survey_config.metric,
            channel=invitation.channel,
            locale=invitation.locale,
            answer_until=utcnow() + config.settings.answer_window,
        )
        secret = self._settings.link_secret.get_secret_value()
        token = sign(link, secret=secret)
        unsubscribe = UnsubscribeLink(
            workspace_id=invitation.workspace_id,
            customer_id=invitation.customer_id,
            channel=invitation.channel,
        )
        public_url = self._settings.public_url.rstrip("/")
        locale = invitation.locale or config.locale
        question = localized(survey_config.question, invitation.locale, config.locale) or ""
        survey = channels.Survey(
            invitation_id=invitation.id,
            address=invitation.address,
            locale=locale,
            metric=survey_config.metric,
            question=question,
            scores=list(scale(survey_config.metric)),
            answer_url=f"{public_url}/r/{token}",
            brand=self._settings.brand,
            unsubscribe_url=f"{public_url}/u/{sign(unsubscribe, secret=secret)}",
            reminder=invitation.reminders_sent,
        )

        async def handing_over() -> None:
            async with transaction(self._sessions) as session:
                await repository.mark_handing_over(
                    session, invitation_id=invitation.id, attempt=attempt
                )

        try:
            callback = None
            if self._settings.callback_url:
                path = callback_path(invitation.workspace_id, invitation.channel, invitation.id)
                callback = f"{self._settings.callback_url.rstrip('/')}{path}"
            channel = channels.build(
                config.channels[invitation.channel], sms_status_callback=callback
            )
            receipt = await channel.send(survey, handing_over=handing_over)
        except channels.SendFailed as exc:
            log.warning("send.failed", invitation_id=str(invitation.id), error=exc.detail)
            if exc.ambiguous:
                return Outcome("unknown", "provider_outcome_unknown")
            status = "failed" if exc.permanent else "retry"
            return Outcome(status, exc.detail, retry_after=exc.retry_after)
        return Outcome("sent", None, message_id=receipt.provider_message_id)
