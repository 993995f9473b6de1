"""The live stream's feed: `cx.responses` and `cx.alerts` as they happen, into the hub.

Each gateway process consumes in a consumer group of its own (a unique id), so every
replica sees every message: a dashboard's stream may be open on any replica, and with
one shared group each replica would see only its share of the partitions. It starts at
the latest offset and never commits: the stream is live, not a replay, so a restarted
process has nobody to catch up for, and a group without offsets is forgotten by Kafka
once its one member leaves, so replicas coming and going leave nothing behind. (A
group rather than none keeps each replica's lag visible to Kafka's group tooling.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError
from cxloop_shared.cloudevents import UndecodableMessage, decode
from cxloop_shared.topics import ALERTS, RESPONSES

from cxloop_gateway.settings import Settings
from cxloop_gateway.stream.service import StreamHub

log = structlog.get_logger(__name__)


def group_id() -> str:
    """A consumer group for this process alone."""
    return f"cxloop-gateway-stream-{socket.gethostname()}-{uuid.uuid4().hex[:12]}"


class LiveFeed:
    """Consumes the answers and alerts topics and hands every event to the hub."""

    def __init__(self, *, settings: Settings, hub: StreamHub) -> None:
        self._settings = settings
        self._hub = hub
        self._group_id = group_id()
        self._stopping = asyncio.Event()
        self._failures = 0

    async def run(self) -> None:
        """Consume until `stop()`; Kafka outages are waited out (the stream says 503)."""
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                RESPONSES,
                ALERTS,
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                group_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset="latest",
            )
            try:
                await consumer.start()
                await self._consume(consumer)
            except KafkaError as exc:
                self._failures += 1
                log.warning("stream.feed_failed", error=str(exc), failures=self._failures)
            except Exception:
                # A bug must not end the feed for good: log it and start over.
                self._failures += 1
                log.exception("stream.feed_crashed")
            finally:
                if self._hub.live:
                    # Whatever is published until the feed is back is never seen: end the
                    # streams, so dashboards re-read the APIs and reconnect, not miss it.
                    self._hub.close()
                self._hub.live = False
                await consumer.stop()
            retry_in = min(2.0 * 2 ** min(self._failures, 4), 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=retry_in)

    async def stop(self) -> None:
        """Ask the loop to leave Kafka."""
        self._stopping.set()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                for record in records:
                    self._deliver(record)
            if not self._hub.live and consumer.assignment():
                # Resolve "latest" for every partition now: from here on nothing published
                # is missed, which is what `live` promises.
                for partition in consumer.assignment():
                    await consumer.position(partition)
                self._hub.live = True
                self._failures = 0
                log.info("stream.feed_live", partitions=len(consumer.assignment()))

    def _deliver(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = decode(list(record.headers), record.value)
        except UndecodableMessage:
            return  # the topic's owning consumer dead-letters it; the stream just skips it
        self._hub.deliver(event)


@asynccontextmanager
async def live_stream(settings: Settings) -> AsyncIterator[StreamHub]:
    """The hub, fed from Kafka while the context is open; every stream ends as it closes."""
    hub = StreamHub(
        queue_size=settings.stream_queue_size,
        per_workspace=settings.stream_max_per_workspace,
        metrics_delay=settings.stream_metrics_debounce_seconds,
    )
    feed = LiveFeed(settings=settings, hub=hub)
    task = asyncio.create_task(feed.run(), name="stream-feed")
    try:
        yield hub
    finally:
        hub.close()
        await feed.stop()
        try:
            await asyncio.wait_for(task, timeout=settings.shutdown_grace_seconds)
        except TimeoutError:
            log.warning("stream.feed_cancelled")
