"""Sample events for the shared library's tests: one of each contract, and Kafka helpers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from cxloop_shared.events import (
    AlertRaised,
    Customer,
    CustomerChanged,
    CxEvent,
    InvitationChanged,
    ResponseRecorded,
    Touchpoint,
    TouchpointReceived,
)

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
INVITATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
ALERT = uuid.UUID("00000000-0000-4000-8000-000000000002")
WAIT_SECONDS = 15.0


def touchpoint_received(workspace_id: str, customer_id: str, event_id: str = "o-1") -> CxEvent:
    """A checkout touchpoint from the shop."""
    return TouchpointReceived(
        workspace_id=workspace_id,
        source="shop",
        received_at=T0,
        event=Touchpoint(
            id=event_id,
            touchpoint="checkout",
            occurred_at=T0 - timedelta(minutes=1),
            customer=Customer(id=customer_id, email="ada@example.com", timezone="Europe/Berlin"),
            channel="web",
            attributes={"order_total": 42.5, "first_order": True},
        ),
    )


def invitation_changed(workspace_id: str, customer_id: str) -> CxEvent:
    """A scheduled invitation."""
    return InvitationChanged(
        workspace_id=workspace_id,
        invitation_id=INVITATION,
        event_id="o-1",
        source="shop",
        touchpoint="checkout",
        customer_id=customer_id,
        status="scheduled",
        reason="scheduled_later",
        survey="csat_checkout",
        metric="csat",
        channel="email",
        send_at=T0 + timedelta(hours=1),
        expires_at=T0 + timedelta(days=3),
        changed_at=T0,
    )


def response_recorded(workspace_id: str, customer_id: str) -> CxEvent:
    """A first answer through a survey link."""
    return ResponseRecorded(
        workspace_id=workspace_id,
        response_id="r-1",
        invitation_id=INVITATION,
        customer_id=customer_id,
        touchpoint="checkout",
        survey="csat_checkout",
        metric="csat",
        channel="email",
        score=4,
        comment="Quick and easy",
        answered_at=T0 + timedelta(hours=2),
        collected_via="link",
    )


def customer_changed(workspace_id: str, customer_id: str) -> CxEvent:
    """An opt-out of email."""
    return CustomerChanged(
        workspace_id=workspace_id,
        customer_id=customer_id,
        change="opt_out",
        channel="email",
        changed_at=T0,
    )


def alert_raised(workspace_id: str, customer_id: str) -> CxEvent:
    """A detractor alert."""
    return AlertRaised(
        workspace_id=workspace_id,
        alert_id=ALERT,
        rule="score <= 2",
        response_id="r-1",
        customer_id=customer_id,
        touchpoint="checkout",
        metric="csat",
        score=1,
        context={"order": {"id": "o-1", "total": 42.5}},
        raised_at=T0,
    )


def one_of_each(workspace_id: str = "acme", customer_id: str = "c-1") -> list[CxEvent]:
    """One event of every contract in `EVENT_TYPES`."""
    return [
        factory(workspace_id, customer_id)
        for factory in (
            touchpoint_received,
            invitation_changed,
            response_recorded,
            customer_changed,
            alert_raised,
        )
    ]


async def read_topic(
    bootstrap: str, topic: str, *, count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """The first `count` records of every partition of `topic`, read without a group."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=200)
                records.extend(record for part in batches.values() for record in part)
    finally:
        await consumer.stop()
    return records


async def end_offsets(bootstrap: str, topic: str, partitions: int = 1) -> list[int]:
    """The end offset of each partition of `topic`: how many records it ever held."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return [ends[tp] for tp in tps]
