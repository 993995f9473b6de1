"""Working a consumer service through a backlog: fill a topic, point a consumer group at
it, watch a table fill, and read the same records with a plain consumer for comparison.

Shared by the dispatch and scoring benchmarks, which both measure one service process
catching up on records produced before it starts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TypeVar

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from cxloop_devstack.stack import ServiceProcess
from cxloop_shared import topics
from cxloop_shared.cloudevents import KafkaRecord

from bench.runner import Throughput

# How long a service may go without persisting a row before the run is given up.
STALL_SECONDS = 60.0


def partitions_of(topic: str) -> list[TopicPartition]:
    """Every partition of one of cxloop's topics."""
    return [TopicPartition(topic, p) for p in range(topics.PARTITIONS[topic])]


async def prefill(
    bootstrap: str, records: Sequence[KafkaRecord], *, topic: str, idempotence: bool
) -> dict[TopicPartition, int]:
    """Produce the records (windows of 1000 outstanding sends) to `topic`; return where they
    begin in each partition. Earlier benchmarks leave records of their own in the topic,
    and the readers start after them."""
    partitions = partitions_of(topic)
    start = await end_offsets(bootstrap, partitions)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotence, linger_ms=5
    )
    await producer.start()
    try:
        for window in chunks(records, 1000):
            sent = [
                await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in window
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    end = await end_offsets(bootstrap, partitions)
    produced = sum(end[tp] - start[tp] for tp in partitions)
    if produced != len(records):
        raise RuntimeError(f"{produced} records landed in {topic}, not {len(records)}")
    return start


async def raw_consumer(
    bootstrap: str,
    *,
    topic: str,
    start: dict[TopicPartition, int],
    records: int,
    batch_size: int,
) -> Throughput:
    """A plain consumer in a fresh group reading the same records in batches of the
    service's size, doing nothing with them: the most any consumer of this broker can
    hand a handler. Timed from the group's assignment, so joining is not counted."""
    group = f"bench-raw-{uuid.uuid4().hex[:8]}"
    await start_group_at(bootstrap, group, start)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
    )
    assigned = _Assigned()
    await consumer.start()
    try:
        consumer.subscribe([topic], listener=assigned)
        async with asyncio.timeout(STALL_SECONDS + records / 100):
            await assigned.wait()
            started = time.perf_counter()
            received = batches = 0
            while received < records:
                polled = await consumer.getmany(timeout_ms=1000, max_records=batch_size)
                count = sum(len(part) for part in polled.values())
                received += count
                batches += 1 if count else 0
            elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return Throughput("raw consumer (same broker)", received, elapsed, batches)


async def end_offsets(
    bootstrap: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """Where each partition ends now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def start_group_at(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for `group`, so its members begin at the prefilled records."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


class _Assigned(ConsumerRebalanceListener):
    """Lets the caller wait until the group gave the consumer its partitions."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()

    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        self._event.set()


async def ready_time(process: ServiceProcess) -> float:
    """Wait until the service answers /readyz; when, on the perf counter."""
    await asyncio.to_thread(process.wait_ready)
    return time.perf_counter()


def cpu_seconds(process: ServiceProcess) -> float:
    """CPU time the service process (and any children) used so far."""
    if process.process.pid is None:
        return 0.0
    root = psutil.Process(process.process.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def dsn(database_url: str) -> str:
    """The SQLAlchemy URL as asyncpg takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of `size`."""
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]
