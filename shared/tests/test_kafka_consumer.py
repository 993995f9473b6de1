"""The batch consumer against a real broker: delivery, offsets, dead letters, retries, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cxloop_shared.cloudevents import encode, header
from cxloop_shared.events import CustomerChanged
from cxloop_shared.kafka import BatchConsumer, BatchHandler, Delivery
from cxloop_shared.operations import replay_dlq
from cxloop_shared.settings import ServiceSettings
from cxloop_shared.topics import dlq
from shared_support import T0, WAIT_SECONDS, end_offsets, read_topic


class Recorder:
    """A handler that records the customers of the batches it handled, failing on demand."""

    def __init__(self, fail: Callable[[Sequence[Delivery]], None] = lambda _: None) -> None:
        self.handled: list[str] = []
        self.calls = 0
        self._fail = fail
        self._grew = asyncio.Event()

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        self.calls += 1
        self._fail(deliveries)
        self.handled.extend(d.event.customer_key for d in deliveries)
        self._grew.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.handled) < count:
                self._grew.clear()
                await self._grew.wait()


def opt_out(customer_id: str) -> CustomerChanged:
    return CustomerChanged(
        workspace_id="acme", customer_id=customer_id, change="opt_out", changed_at=T0
    )


async def publish(producer: AIOKafkaProducer, topic: str, customers: Sequence[str]) -> None:
    for customer_id in customers:
        record = encode(opt_out(customer_id), topic=topic, source="/test")
        await producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=record.headers
        )


@asynccontextmanager
async def consuming(
    *,
    settings: ServiceSettings,
    topic: str,
    group_id: str,
    handler: BatchHandler,
    producer: AIOKafkaProducer,
    max_attempts: int = 3,
    retry_delay: float = 0.5,
) -> AsyncIterator[BatchConsumer]:
    consumer = BatchConsumer(
        settings=settings,
        topics=[topic],
        group_id=group_id,
        handler=handler,
        producer=producer,
        max_attempts=max_attempts,
        retry_delay=retry_delay,
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, timeout=10)


async def committed(settings: ServiceSettings, topic: str, group_id: str) -> int | None:
    """The group's committed offset of the topic's one partition, as a restart would see it."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    return offset


def group() -> str:
    return f"test-group-{uuid4().hex[:8]}"


async def test_events_reach_the_handler_and_their_offsets_are_committed(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    group_id, recorder = group(), Recorder()
    await publish(producer, topic, ["c-1", "c-2", "c-3"])

    async with consuming(
        settings=settings, topic=topic, group_id=group_id, handler=recorder, producer=producer
    ):
        await recorder.wait_for(3)

    assert recorder.handled == ["c-1", "c-2", "c-3"]
    assert await committed(settings, topic, group_id) == 3

    again = Recorder()
    await publish(producer, topic, ["c-4"])
    async with consuming(
        settings=settings, topic=topic, group_id=group_id, handler=again, producer=producer
    ):
        await again.wait_for(1)
        await asyncio.sleep(0.5)
    assert again.handled == ["c-4"]
    assert await end_offsets(settings.kafka_bootstrap_servers, dlq(topic)) == [0]


async def test_an_undecodable_message_is_dead_lettered_and_its_neighbours_handled(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    group_id, recorder = group(), Recorder()
    await publish(producer, topic, ["c-1"])
    await producer.send_and_wait(topic, value=b'{"hello": 1}', key=b"acme:c-x", headers=[])
    await publish(producer, topic, ["c-2"])

    async with consuming(
        settings=settings, topic=topic, group_id=group_id, handler=recorder, producer=producer
    ):
        await recorder.wait_for(2)
        [dead] = await read_topic(settings.kafka_bootstrap_servers, dlq(topic), count=1)

    assert recorder.handled == ["c-1", "c-2"]
    assert dead.value == b'{"hello": 1}'
    assert dead.key == b"acme:c-x"
    assert "missing ce_type" in (header(dead.headers, "dlq_error") or "")
    assert header(dead.headers, "dlq_origin_topic") == topic
    assert header(dead.headers, "dlq_origin_partition") == "0"
    assert header(dead.headers, "dlq_origin_offset") == "1"
    assert header(dead.headers, "dlq_consumer_group") == group_id
    assert await committed(settings, topic, group_id) == 3


async def test_an_event_the_handler_keeps_rejecting_is_dead_lettered(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    def reject_c2(deliveries: Sequence[Delivery]) -> None:
        if any(d.event.customer_key == "c-2" for d in deliveries):
            raise ValueError("c-2 is poison")

    group_id, recorder = group(), Recorder(reject_c2)
    await publish(producer, topic, ["c-1", "c-2", "c-3"])

    async with consuming(
        settings=settings,
        topic=topic,
        group_id=group_id,
        handler=recorder,
        producer=producer,
        max_attempts=2,
        retry_delay=0.01,
    ):
        await recorder.wait_for(2)
        [dead] = await read_topic(settings.kafka_bootstrap_servers, dlq(topic), count=1)

    assert sorted(recorder.handled) == ["c-1", "c-3"]
    assert dead.key == b"acme:c-2"
    assert "c-2 is poison" in (header(dead.headers, "dlq_error") or "")
    assert header(dead.headers, "dlq_attempts") == "2"
    assert header(dead.headers, "dlq_origin_offset") == "1"
    assert header(dead.headers, "ce_type") == CustomerChanged.ce_type
    assert await committed(settings, topic, group_id) == 3


async def test_a_transient_failure_is_retried_until_it_passes(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    failures = [ConnectionError("postgres restarting"), ConnectionError("still restarting")]

    def flaky(_: Sequence[Delivery]) -> None:
        if failures:
            raise failures.pop(0)

    group_id, recorder = group(), Recorder(flaky)
    await publish(producer, topic, ["c-1", "c-2"])

    async with consuming(
        settings=settings,
        topic=topic,
        group_id=group_id,
        handler=recorder,
        producer=producer,
        max_attempts=1,
        retry_delay=0.01,
    ):
        await recorder.wait_for(2)

    assert sorted(recorder.handled) == ["c-1", "c-2"]
    assert recorder.calls >= 3
    assert not failures
    assert await end_offsets(settings.kafka_bootstrap_servers, dlq(topic)) == [0]
    assert await committed(settings, topic, group_id) == 2


@pytest.mark.timeout(30)
async def test_stop_makes_run_return(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    recorder = Recorder()
    consumer = BatchConsumer(
        settings=settings, topics=[topic], group_id=group(), handler=recorder, producer=producer
    )
    task = asyncio.create_task(consumer.run())
    try:
        await publish(producer, topic, ["c-1"])
        await recorder.wait_for(1)
        assert consumer.ready
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, timeout=5)

    assert task.exception() is None
    assert not consumer.ready


async def test_a_dead_letter_replayed_after_the_fix_takes_effect_exactly_once(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    broken = True

    def reject_c2_until_fixed(deliveries: Sequence[Delivery]) -> None:
        if broken and any(d.event.customer_key == "c-2" for d in deliveries):
            raise ValueError("c-2 is poison")

    group_id, recorder = group(), Recorder(reject_c2_until_fixed)
    await publish(producer, topic, ["c-1", "c-2", "c-3"])
    async with consuming(
        settings=settings,
        topic=topic,
        group_id=group_id,
        handler=recorder,
        producer=producer,
        max_attempts=2,
        retry_delay=0.01,
    ):
        await recorder.wait_for(2)
        await read_topic(settings.kafka_bootstrap_servers, dlq(topic), count=1)
        broken = False  # the fix is deployed
        replayed = await replay_dlq(settings, dlq(topic))
        await recorder.wait_for(3)
        again = await replay_dlq(settings, dlq(topic))
        await asyncio.sleep(0.5)  # room for a wrongly repeated message to arrive

    assert (replayed, again) == (1, 0)
    assert sorted(recorder.handled) == ["c-1", "c-2", "c-3"]
    [back] = [r for r in await read_topic(settings.kafka_bootstrap_servers, topic, count=4)][3:]
    assert back.key == b"acme:c-2"
    assert not [k for k, _ in back.headers if k.startswith("dlq_")], "dlq headers are dropped"
