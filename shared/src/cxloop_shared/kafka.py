"""Kafka plumbing: a producer factory and the batch consumer loop every service uses.

The consumer's contract: a batch's handler makes its effect durable (one database
transaction), and only then are the batch's offsets committed. Delivery is at
least once, so handlers must be idempotent. Messages that cannot be decoded, or
that keep failing on their own, go to `<topic>.dlq` with the error and their
origin in headers, so one bad message never stops a partition.

While a batch is handled, its messages' ids are bound to every log line (`ce_id`,
`event_id`… for one message; `ce_ids`, `event_ids` for several) and, with tracing on,
each message continues the trace its headers carry (see `tracing.consuming`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import Counter, Gauge, Histogram

from cxloop_shared import tracing
from cxloop_shared.cloudevents import Headers, UndecodableMessage, decode, header
from cxloop_shared.events import CxEvent
from cxloop_shared.failures import is_transient
from cxloop_shared.logs import event_log_ids
from cxloop_shared.settings import ServiceSettings
from cxloop_shared.topics import dlq

log = structlog.get_logger(__name__)

BATCHES = Histogram(
    "cxloop_consumer_batch_seconds", "Time to handle one consumed batch", ["topic", "group"]
)
MESSAGES = Counter(
    "cxloop_consumer_messages_total", "Messages handled by consumers", ["topic", "group"]
)
DLQ_MESSAGES = Counter(
    "cxloop_dlq_messages_total", "Messages sent to a dead-letter topic", ["topic", "group"]
)
LAG = Gauge(
    "cxloop_consumer_lag", "Messages behind the partition's end", ["topic", "partition", "group"]
)
COMMIT_FAILURES = Counter(
    "cxloop_consumer_commit_failures_total", "Offset commits lost to a rebalance", ["group"]
)


def create_producer(settings: ServiceSettings, **overrides: object) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica, idempotent where the broker allows."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": 5,
        "request_timeout_ms": 15000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A consumed message with its decoded event."""

    topic: str
    partition: int
    offset: int
    event: CxEvent
    headers: Headers

    def log_context(self) -> dict[str, object]:
        """Ids to bind to log lines while working on this message (no personal data):
        `structlog.contextvars.bound_contextvars(**delivery.log_context())`."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "ce_id": header(self.headers, "ce_id"),
            "ce_type": self.event.ce_type,
            **event_log_ids(self.event),
        }


def batch_log_context(deliveries: Sequence[Delivery]) -> dict[str, object]:
    """Ids to bind to log lines while a batch is handled: a single message's own context,
    or every message's `ce_id` and every event id of a larger batch."""
    if len(deliveries) == 1:
        return deliveries[0].log_context()
    ids = [event_log_ids(d.event).get("event_id") for d in deliveries]
    return {
        "topics": sorted({d.topic for d in deliveries}),
        "messages": len(deliveries),
        "ce_ids": [header(d.headers, "ce_id") for d in deliveries],
        "event_ids": sorted({i for i in ids if i is not None}),
    }


BatchHandler = Callable[[Sequence[Delivery]], Awaitable[None]]


class ConsumerStopped(Exception):
    """Raised inside the loop when a stop was asked for while a batch could not finish."""


class BatchConsumer:
    """Consume batches, hand them to a handler, commit offsets after the effect is durable."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        topics: Sequence[str],
        group_id: str,
        handler: BatchHandler,
        producer: AIOKafkaProducer,
        max_attempts: int = 3,
        retry_delay: float = 0.5,
    ) -> None:
        self._settings = settings
        self._topics = list(topics)
        self._group_id = group_id
        self._handler = handler
        self._producer = producer
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self.ready = False

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.consumer_batch_size,
        )

    async def run(self) -> None:
        """Consume until `stop()`; Kafka outages are waited out, never fatal."""
        while not self._stopping.is_set():
            consumer = self._new_consumer()
            try:
                await consumer.start()
            except KafkaError as exc:
                log.warning("consumer.start_failed", group=self._group_id, error=str(exc))
                await consumer.stop()
                await self._sleep(2.0)
                continue
            self._consumer = consumer
            self.ready = True
            try:
                await self._consume(consumer)
            except ConsumerStopped:
                log.info("consumer.stopped_mid_batch", group=self._group_id)
            finally:
                self.ready = False
                await consumer.stop()
                self._consumer = None

    async def stop(self) -> None:
        """Ask the loop to finish its current batch, commit, and leave the group."""
        self._stopping.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(
                timeout_ms=200, max_records=self._settings.consumer_batch_size
            )
            records = [record for part in batches.values() for record in part]
            if not records:
                continue
            started = time.perf_counter()
            await self._handle(records)
            offsets = {tp: part[-1].offset + 1 for tp, part in batches.items()}
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # A rebalance took the partitions away mid-batch: the new owner gets
                # them again from the last commit, and the handlers are idempotent.
                COMMIT_FAILURES.labels(self._group_id).inc()
                log.warning("consumer.commit_lost", group=self._group_id, error=str(exc))
            elapsed = time.perf_counter() - started
            for topic in {tp.topic for tp in batches}:  # one batch, observed once per topic
                BATCHES.labels(topic, self._group_id).observe(elapsed)
            for tp in batches:
                MESSAGES.labels(tp.topic, self._group_id).inc(len(batches[tp]))
                self._record_lag(consumer, tp, offsets[tp])

    def _record_lag(self, consumer: AIOKafkaConsumer, tp: TopicPartition, position: int) -> None:
        end = consumer.highwater(tp)
        if end is not None:
            LAG.labels(tp.topic, str(tp.partition), self._group_id).set(max(end - position, 0))

    async def _handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        deliveries: list[Delivery] = []
        for record in records:
            try:
                event = decode(list(record.headers), record.value)
            except UndecodableMessage as exc:
                await self._dead_letter(record, exc, attempts=1)
                continue
            deliveries.append(
                Delivery(record.topic, record.partition, record.offset, event, list(record.headers))
            )
        if not deliveries:
            return
        with tracing.consuming(deliveries, group=self._group_id) as traced:
            with structlog.contextvars.bound_contextvars(**batch_log_context(deliveries)):
                error = await self._attempt(deliveries)
            if error is None:
                return
            # The batch keeps failing for a reason that is not the infrastructure's:
            # find the messages that fail on their own and set them aside.
            by_offset = {(r.topic, r.partition, r.offset): r for r in records}
            for delivery in deliveries:
                with structlog.contextvars.bound_contextvars(**delivery.log_context()):
                    single_error = await self._attempt([delivery])
                    if single_error is not None:
                        traced.failed(delivery, single_error)
                        record = by_offset[(delivery.topic, delivery.partition, delivery.offset)]
                        await self._dead_letter(record, single_error, attempts=self._max_attempts)

    async def _attempt(self, deliveries: Sequence[Delivery]) -> BaseException | None:
        """Run the handler; retry transient failures until they pass, others a few times."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._handler(deliveries)
                return None
            except Exception as exc:
                transient = is_transient(exc)
                log.warning(
                    "consumer.batch_failed",
                    group=self._group_id,
                    size=len(deliveries),
                    attempt=attempt,
                    transient=transient,
                    error=repr(exc)[:500],
                )
                if not transient and attempt >= self._max_attempts:
                    return exc
                if self._stopping.is_set():
                    # Leave without committing: the batch is redelivered after restart.
                    raise ConsumerStopped from exc
                delay = min(self._retry_delay * 2 ** min(attempt, 6), 30.0)
                await asyncio.sleep(delay)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int
    ) -> None:
        headers = [
            *record.headers,
            ("dlq_error", repr(error)[:1000].encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_origin_topic", record.topic.encode()),
            ("dlq_origin_partition", str(record.partition).encode()),
            ("dlq_origin_offset", str(record.offset).encode()),
            ("dlq_consumer_group", self._group_id.encode()),
        ]
        await self._producer.send_and_wait(
            dlq(record.topic), value=record.value, key=record.key, headers=headers
        )
        DLQ_MESSAGES.labels(record.topic, self._group_id).inc()
        log.error(
            "consumer.dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            ce_id=header(record.headers, "ce_id"),
            error=repr(error)[:300],
        )
