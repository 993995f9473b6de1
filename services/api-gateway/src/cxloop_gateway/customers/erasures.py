"""Erasure requests, made durable: a `CustomerChanged(change="erasure")` on `cx.customers`,
acknowledged by every in-sync replica before the gateway answers 202.

Dispatch, scoring and ingest each consume `cx.customers` and erase what they keep, so
the request only has to reach Kafka once. The producer is started on first use, not
with the gateway: the gateway serves reads while the broker is down, and an erasure
asked for then gets a 503 to retry rather than a 202 that nothing backs.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from cxloop_shared import topics
from cxloop_shared.cloudevents import encode, event_id
from cxloop_shared.errors import ServiceUnavailable
from cxloop_shared.events import CustomerChanged
from cxloop_shared.kafka import create_producer
from cxloop_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

SOURCE = "cxloop/gateway"
# Longer than the producer's own request timeout would make the caller wait for nothing.
PUBLISH_TIMEOUT_SECONDS = 15.0


class ErasurePublisher:
    """Publishes erasure requests on `cx.customers` and waits for the broker's ack."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def publish(self, request: CustomerChanged) -> None:
        """Return once the request is durable in Kafka; raise ServiceUnavailable if not."""
        record = encode(request, topic=topics.CUSTOMERS, source=SOURCE)
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                producer = await self._started()
                await producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("erasure.not_published", error=repr(exc)[:300])
            await self.close()  # a producer that failed may not start again: make a new one
            raise ServiceUnavailable(
                "the erasure request could not be recorded; nothing was erased, retry shortly"
            ) from None
        log.info("erasure.published", workspace_id=request.workspace_id, ce_id=event_id(request))

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = create_producer(self._settings)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        """Stop the producer, if one was started."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
