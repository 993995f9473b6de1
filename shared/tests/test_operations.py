"""The operations commands every service offers: outbox state and drain, topic creation."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from uuid import uuid4

from cxloop_shared.db import service_metadata
from cxloop_shared.events import CustomerChanged
from cxloop_shared.outbox import Outbox, outbox_table
from cxloop_shared.service import operate
from cxloop_shared.settings import ServiceSettings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


async def test_the_outbox_command_shows_then_drains_what_waits(
    engine: AsyncEngine, database_url: str, settings: ServiceSettings
) -> None:
    settings = settings.model_copy(update={"database_url": database_url})
    outbox = Outbox(outbox_table(service_metadata("dispatch")), source="tests")
    change = CustomerChanged(
        workspace_id=f"ws-{uuid4().hex[:8]}",
        customer_id="c-1",
        change="opt_out",
        channel="email",
        changed_at=datetime.now(UTC),
    )
    async with engine.begin() as connection:
        waiting_before = await connection.scalar(text("select count(*) from dispatch.outbox"))
    async with AsyncSession(bind=engine) as session, session.begin():
        await outbox.add(session, [("cx.customers", change)])

    shown = await operate("outbox", argparse.Namespace(drain=False), settings, "dispatch")
    drained = await operate("outbox", argparse.Namespace(drain=True), settings, "dispatch")
    after = await operate("outbox", argparse.Namespace(drain=False), settings, "dispatch")

    assert shown.startswith(f"dispatch.outbox: {waiting_before + 1} waiting")
    assert drained == f"relayed {waiting_before + 1} event(s) from dispatch.outbox"
    assert after.startswith("dispatch.outbox: 0 waiting")


async def test_create_topics_is_idempotent(settings: ServiceSettings) -> None:
    first = await operate("create-topics", argparse.Namespace(), settings, "ingest")
    again = await operate("create-topics", argparse.Namespace(), settings, "ingest")

    assert first == again
    assert "cx.touchpoints.dlq" in first
