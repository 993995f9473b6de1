"""Safe sending against real SMTP servers: retries with backoff, fallback, circuit breaking."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cxloop_devstack.mailcatcher import MailCatcher
from cxloop_devstack.ports import free_port
from cxloop_dispatch.breaker import CircuitBreakers, retry_delay
from cxloop_dispatch.handlers import ResponseHandler
from cxloop_dispatch.scheduler import Scheduler
from cxloop_dispatch.settings import Settings
from cxloop_dispatch.tables import outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.events import Customer, ResponseRecorded, Touchpoint, TouchpointReceived
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from dispatch_support import LINK_SECRET
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


class TryLater:
    """An SMTP server that refuses every message with a transient 451, counting them."""

    def __init__(self) -> None:
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.refused += 1
        return "451 4.3.0 try again later"


@pytest.fixture
def failing_smtp() -> Iterator[tuple[int, TryLater]]:
    handler = TryLater()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


def scheduler(sessions: async_sessionmaker[AsyncSession], **settings: Any) -> Scheduler:
    return Scheduler(
        sessions=sessions,
        configs=ConfigCache(sessions, ttl=0),
        outbox=Outbox(outbox, source="tests"),
        settings=Settings(
            link_secret=SecretStr(LINK_SECRET),
            retry_base_seconds=0.05,
            send_max_attempts=3,
            **settings,
        ),
    )


def checkout(workspace_id: str) -> TouchpointReceived:
    now = datetime.now(UTC)
    return TouchpointReceived(
        workspace_id=workspace_id,
        source="shop",
        received_at=now,
        event=Touchpoint(
            id="o-1",
            touchpoint="checkout",
            occurred_at=now,
            customer=Customer(id="c-1", email="ana@example.com"),
        ),
    )


def config(primary_port: int, backup_port: int) -> dict[str, Any]:
    smtp = {"kind": "smtp", "host": "127.0.0.1", "from": "cx@acme.test"}
    return {
        "timezone": "UTC",
        "touchpoints": {
            "checkout": {
                "survey": "csat",
                "policy": {
                    "send_window": {"start": "00:00", "end": "00:00"},
                    "channels": ["email", "backup"],
                },
            }
        },
        "surveys": {"csat": {"metric": "csat", "question": {"en": "How was it?"}}},
        "channels": {
            "email": smtp | {"port": primary_port},
            "backup": smtp | {"port": backup_port},
        },
    }


async def ledger(engine: AsyncEngine, workspace_id: str) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select l.channel, l.state from dispatch.send_ledger l"
                " join dispatch.invitations i on i.id = l.invitation_id"
                " where i.workspace_id = :w order by l.attempt"
            ),
            {"w": workspace_id},
        )
        return [(channel, state) for channel, state in rows]


async def test_a_failing_provider_is_retried_then_the_next_channel_takes_over(
    handle: Any,
    configure: Any,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    workspace_id: str,
    failing_smtp: tuple[int, TryLater],
    mail: MailCatcher,
) -> None:
    port, refusing = failing_smtp
    await configure(workspace_id, **config(port, mail.smtp_port))
    await handle([checkout(workspace_id)])
    sending = scheduler(sessions)

    async with asyncio.timeout(20):
        while not mail.messages:
            await sending.send_due()
            await asyncio.sleep(0.05)

    assert refusing.refused == 3, "three attempts on the failing channel, then fallback"
    assert await ledger(engine, workspace_id) == [
        ("email", "retry"),
        ("email", "retry"),
        ("email", "failed"),
        ("backup", "sent"),
    ]
    assert [list(m.rcpt_tos) for m in mail.messages] == [["ana@example.com"]]


async def test_an_open_circuit_keeps_sends_off_a_failing_provider(
    handle: Any,
    configure: Any,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    workspace_id: str,
    failing_smtp: tuple[int, TryLater],
) -> None:
    port, refusing = failing_smtp
    await configure(workspace_id, **config(port, port))
    await handle([checkout(workspace_id)])
    sending = scheduler(sessions, circuit_failures=1, circuit_cooldown_seconds=60)

    for _ in range(10):
        await sending.send_due()
        await asyncio.sleep(0.1)

    assert refusing.refused == 1, "the circuit opened after the first failure"
    states = await ledger(engine, workspace_id)
    assert states[0] == ("email", "retry")


def test_circuit_breakers_open_after_the_threshold_and_close_on_success() -> None:
    breakers = CircuitBreakers(threshold=2, cooldown=timedelta(seconds=30))

    breakers.failed("ws:sms", T0)
    assert breakers.open_until("ws:sms", T0) is None
    breakers.failed("ws:sms", T0)
    assert breakers.open_until("ws:sms", T0) == T0 + timedelta(seconds=30)
    assert breakers.open_until("ws:email", T0) is None
    assert breakers.open_until("ws:sms", T0 + timedelta(seconds=31)) is None
    breakers.succeeded("ws:sms")
    breakers.failed("ws:sms", T0)
    assert breakers.open_until("ws:sms", T0) is None


@given(
    attempt=st.integers(1, 30),
    retry_after=st.none() | st.floats(0, 10_000),
    seed=st.integers(0, 2**32),
)
def test_retry_delays_grow_stay_capped_and_honour_retry_after(
    attempt: int, retry_after: float | None, seed: int
) -> None:
    delay = retry_delay(attempt, retry_after=retry_after, rng=random.Random(seed))
    ceiling = min(timedelta(seconds=10) * 2 ** (attempt - 1), timedelta(hours=1))

    assert delay >= ceiling / 2
    assert delay <= max(ceiling, timedelta(seconds=retry_after or 0))
    if retry_after:
        assert delay >= timedelta(seconds=retry_after)


def reminding(port: int) -> dict[str, Any]:
    document = config(port, port)
    document["touchpoints"]["checkout"]["policy"]["reminder"] = {"after": "PT1S", "max": 2}
    return document


async def run_scheduler(sending: Scheduler, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        await sending.requeue_reminders()
        await sending.send_due()
        await asyncio.sleep(0.05)


async def test_unanswered_invitations_are_reminded_at_most_max_times(
    handle: Any,
    configure: Any,
    sessions: async_sessionmaker[AsyncSession],
    workspace_id: str,
    mail: MailCatcher,
) -> None:
    await configure(workspace_id, **reminding(mail.smtp_port))
    await handle([checkout(workspace_id)])

    await run_scheduler(scheduler(sessions), 4.0)

    assert len(mail.messages) == 3, "the invitation and two reminders"
    ids = [str(m["Message-ID"]).strip("<>").split("@")[0] for m in mail.messages]
    assert len(set(ids)) == 3, "each reminder is a message of its own"
    assert ids[1:] == [f"{ids[0]}.r1", f"{ids[0]}.r2"]


async def test_an_answered_invitation_gets_no_reminder(
    handle: Any,
    configure: Any,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    workspace_id: str,
    mail: MailCatcher,
) -> None:
    await configure(workspace_id, **reminding(mail.smtp_port))
    await handle([checkout(workspace_id)])
    sending = scheduler(sessions)
    await run_scheduler(sending, 0.3)
    async with engine.connect() as connection:
        invitation_id = await connection.scalar(
            text("select id from dispatch.invitations where workspace_id = :w"),
            {"w": workspace_id},
        )
    answer = ResponseRecorded(
        workspace_id=workspace_id,
        response_id=str(invitation_id),
        invitation_id=invitation_id,
        customer_id="c-1",
        touchpoint="checkout",
        metric="csat",
        score=5,
        answered_at=datetime.now(UTC),
        collected_via="link",
    )
    await ResponseHandler(sessions=sessions)([Delivery("cx.responses", 0, 0, answer, [])])

    await run_scheduler(sending, 2.5)

    assert len(mail.messages) == 1


async def test_a_send_that_falls_due_late_waits_for_the_window_instead_of_leaving_at_night(
    handle: Any,
    configure: Any,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    workspace_id: str,
    mail: MailCatcher,
) -> None:
    now = datetime.now(UTC)
    opens = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    document = config(mail.smtp_port, mail.smtp_port)
    window = {
        "start": opens.strftime("%H:%M"),
        "end": (opens + timedelta(hours=1)).strftime("%H:%M"),
    }
    document["touchpoints"]["checkout"]["policy"]["send_window"] = window
    await configure(workspace_id, **document)
    await handle([checkout(workspace_id)])
    async with engine.begin() as connection:  # as if a backlog kept it from leaving in time
        await connection.execute(
            text("update dispatch.invitations set send_at = now() where workspace_id = :w"),
            {"w": workspace_id},
        )

    await scheduler(sessions).send_due()

    assert mail.messages == []
    async with engine.connect() as connection:
        status, send_at = (
            await connection.execute(
                text("select status, send_at from dispatch.invitations where workspace_id = :w"),
                {"w": workspace_id},
            )
        ).one()
    assert (status, send_at) == ("scheduled", opens)
