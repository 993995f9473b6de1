"""Operations an operator runs by hand: create topics, replay dead letters, drain an outbox.

Each service's command line offers them (`cxloop-<service> create-topics`,
`replay-dlq <topic>.dlq`, `outbox [--drain]`), so they run with the service's own
settings and image, wherever the service runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cxloop_shared.kafka import create_producer
from cxloop_shared.outbox import Outbox
from cxloop_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

TOPIC_TIMEOUT_SECONDS = 30.0
DLQ_HEADER_PREFIX = "dlq_"


async def create_topics(bootstrap: str, topics: dict[str, int], replication: int = 1) -> None:
    """Create the missing `topics` (name → partitions); existing ones are left as they are.

    Returns once every topic has a leader for each partition (at most 30 s).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cxloop-operations")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, n, replication) for name, n in topics.items() if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for topic_error in response.topic_errors:
                topic, code = topic_error[0], topic_error[1]
                # Lost a race with another creator (or auto-creation): that is fine.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise KafkaError(f"creating topic {topic!r} failed with error code {code}")
        async with asyncio.timeout(TOPIC_TIMEOUT_SECONDS):
            await _wait_for_leaders(admin, list(topics))
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    while True:
        described = await admin.describe_topics(names)
        ready = {
            t["topic"]
            for t in described
            if t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
        }
        if ready >= set(names):
            return
        await asyncio.sleep(0.2)


async def replay_dlq(
    settings: ServiceSettings, dlq_topic: str, *, group_id: str = "cxloop-dlq-replay"
) -> int:
    """Send every dead letter not replayed before back to the topic it came from.

    Run it after fixing what made the messages fail. The replay group remembers how
    far it got, so running it twice replays nothing twice; the consumers are
    idempotent, so a message replayed and also handled before changes nothing.
    Stops at the end the topic had when the replay began; returns how many it sent.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = create_producer(settings)
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        partitions = [
            TopicPartition(dlq_topic, p) for p in sorted(await producer.partitions_for(dlq_topic))
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        for tp in partitions:
            if committed[tp] is None:
                await consumer.seek_to_beginning(tp)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    headers = dict(record.headers)
                    origin = headers.get("dlq_origin_topic", b"").decode()
                    if not origin:
                        log.warning("dlq.no_origin", topic=dlq_topic, offset=record.offset)
                        continue
                    kept = [
                        (k, v) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)
                    ]
                    await producer.send_and_wait(
                        origin, value=record.value, key=record.key, headers=kept
                    )
                    replayed += 1
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()
    log.info("dlq.replayed", topic=dlq_topic, messages=replayed)
    return replayed


@dataclass(frozen=True, slots=True)
class OutboxState:
    """What waits in an outbox."""

    waiting: int
    oldest_age_seconds: float | None


async def outbox_state(engine: AsyncEngine, outbox: Outbox) -> OutboxState:
    """How many events wait in the outbox, and for how long the oldest has."""
    table = outbox.table
    async with engine.connect() as connection:
        waiting, oldest = (
            await connection.execute(
                select(
                    func.count(), func.extract("epoch", func.now() - func.min(table.c.created_at))
                )
            )
        ).one()
    return OutboxState(int(waiting), float(oldest) if oldest is not None else None)


async def drain_outbox(engine: AsyncEngine, outbox: Outbox, settings: ServiceSettings) -> int:
    """Relay everything waiting in the outbox now (the service's relay does the same)."""
    producer = create_producer(settings)
    await producer.start()
    relayed = 0
    try:
        while sent := await outbox.relay_once(engine, producer):
            relayed += sent
    finally:
        await producer.stop()
    return relayed
