"""The transactional outbox: committed events reach Kafka in order, rolled-back ones never do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from cxloop_shared.cloudevents import decode, header
from cxloop_shared.db import session_factory, transaction
from cxloop_shared.events import CustomerChanged, CxEvent
from cxloop_shared.operations import create_topics
from cxloop_shared.outbox import Outbox, outbox_table
from shared_support import T0, end_offsets, read_topic
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

PARTITIONS = 3


@pytest.fixture
async def outbox(engine: AsyncEngine) -> AsyncIterator[Outbox]:
    """An outbox table in a throwaway schema."""
    schema = f"test_outbox_{uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    table = outbox_table(metadata)
    async with engine.begin() as connection:
        await connection.execute(text(f'create schema "{schema}"'))
        await connection.run_sync(metadata.create_all)
    yield Outbox(table, source="/test/outbox")
    async with engine.begin() as connection:
        await connection.execute(text(f'drop schema "{schema}" cascade'))


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    """A fresh topic with several partitions, so ordering per customer key means something."""
    name = f"test.{uuid4().hex[:8]}"
    await create_topics(kafka_bootstrap, {name: PARTITIONS, name + ".dlq": 1})
    return name


Change = Literal["opt_out", "opt_in", "erasure"]


def change(customer_id: str, change: Change, second: int) -> CustomerChanged:
    return CustomerChanged(
        workspace_id="acme",
        customer_id=customer_id,
        change=change,
        changed_at=T0.replace(second=second),
    )


async def test_committed_events_are_relayed_in_order_and_removed(
    engine: AsyncEngine,
    outbox: Outbox,
    producer: AIOKafkaProducer,
    topic: str,
    kafka_bootstrap: str,
) -> None:
    sessions = session_factory(engine)
    first: list[CxEvent] = [change("c-1", "opt_out", 1), change("c-2", "opt_out", 2)]
    second: list[CxEvent] = [
        change("c-1", "opt_in", 3),
        change("c-2", "erasure", 4),
        change("c-1", "opt_out", 5),
        change("c-1", "erasure", 6),
    ]
    async with transaction(sessions) as session:
        await outbox.add(session, [(topic, event) for event in first])
    async with transaction(sessions) as session:
        await outbox.add(session, [(topic, event) for event in second])

    assert await outbox.relay_once(engine, producer) == 6

    records = await read_topic(kafka_bootstrap, topic, count=6)
    relayed = [decode(record.headers, record.value) for record in records]
    for customer_id in ("c-1", "c-2"):
        added = [event for event in first + second if event.customer_key == customer_id]
        assert [event for event in relayed if event.customer_key == customer_id] == added
    assert {record.key for record in records} == {b"acme:c-1", b"acme:c-2"}
    assert {header(record.headers, "ce_source") for record in records} == {"/test/outbox"}
    async with engine.connect() as connection:
        assert await outbox.depth(connection) == 0
    assert await outbox.relay_once(engine, producer) == 0
    assert sum(await end_offsets(kafka_bootstrap, topic, PARTITIONS)) == 6


async def test_a_rolled_back_transaction_publishes_nothing(
    engine: AsyncEngine,
    outbox: Outbox,
    producer: AIOKafkaProducer,
    topic: str,
    kafka_bootstrap: str,
) -> None:
    async def change_that_fails() -> None:
        async with transaction(session_factory(engine)) as session:
            await outbox.add(session, [(topic, change("c-1", "opt_out", 1))])
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await change_that_fails()

    async with engine.connect() as connection:
        assert await outbox.depth(connection) == 0
    assert await outbox.relay_once(engine, producer) == 0
    assert sum(await end_offsets(kafka_bootstrap, topic, PARTITIONS)) == 0
