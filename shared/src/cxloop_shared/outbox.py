"""The transactional outbox: events are written with the change that causes them and
relayed to Kafka afterwards, so a 2xx or a committed offset never outruns durability.

Each service owns an `outbox` table in its own schema. One relay at a time drains it
(a Postgres advisory lock elects it), in insertion order, so a customer's events
keep their order; deleting a row only after the broker acknowledged it makes the
relay at-least-once, and consumers are idempotent.

With tracing on, a row's headers hold the W3C trace context the event was written in
(see `tracing`), so the relay publishes the request's or the consumed message's trace.
"""

from __future__ import annotations

import asyncio
import collections
import zlib
from collections.abc import Callable, Sequence

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from cxloop_shared import tracing
from cxloop_shared.cloudevents import KafkaRecord, encode, header
from cxloop_shared.events import CxEvent

log = structlog.get_logger(__name__)

OUTBOX_DEPTH = Gauge("cxloop_outbox_depth", "Events written but not yet relayed", ["schema"])
RELAYED = Counter("cxloop_outbox_relayed_total", "Events relayed to Kafka", ["schema", "topic"])


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table in the schema of `metadata`."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("topic", Text, nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def outbox_rows(records: Sequence[KafkaRecord]) -> list[dict[str, object]]:
    """Rows for the outbox table, one per record."""
    return [
        {
            "topic": r.topic,
            "key": r.key,
            "value": r.value,
            "headers": [[k, v.decode()] for k, v in r.headers],
        }
        for r in records
    ]


class Outbox:
    """Writes events into a service's outbox table and relays them to Kafka."""

    def __init__(self, table: Table, *, source: str) -> None:
        self.table = table
        self.source = source
        self._wake = asyncio.Event()
        schema = table.schema or "public"
        self._schema = schema
        self._lock_key = zlib.crc32(f"cxloop.outbox.{schema}".encode())

    async def add(
        self,
        session: AsyncSession,
        events: Sequence[tuple[str, CxEvent]],
        *,
        trace: Sequence[tracing.TraceHeaders] | None = None,
    ) -> None:
        """Queue `(topic, event)` pairs in the caller's transaction.

        `trace` gives each event's W3C trace headers, for a writer that batches other
        callers' events (ingest's group commit); by default each event carries the context
        it is written in (`tracing.headers_for`). Tracing off, nothing is added.
        """
        if not events:
            return
        if trace is None:
            trace = [tracing.headers_for(event) for _, event in events]
        records = [
            encode(
                event,
                topic=topic,
                source=self.source,
                traceparent=context.get("traceparent"),
                tracestate=context.get("tracestate"),
            )
            for (topic, event), context in zip(events, trace, strict=True)
        ]
        await session.execute(insert(self.table), outbox_rows(records))
        self._wake.set()

    def notify(self) -> None:
        """Wake the relay now rather than at its next poll."""
        self._wake.set()

    async def depth(self, connection: AsyncConnection) -> int:
        """How many events wait to be relayed."""
        count = await connection.scalar(select(func.count()).select_from(self.table))
        return int(count or 0)

    async def relay_forever(
        self,
        engine: AsyncEngine,
        new_producer: Callable[[], AIOKafkaProducer],
        *,
        stopping: asyncio.Event,
        batch_size: int = 500,
        idle_poll: float = 0.2,
    ) -> None:
        """Drain the outbox into Kafka until `stopping` is set; survive broker and DB outages.

        The producer is made here, not handed in, because one that failed to connect
        cannot be started again: after an outage the relay starts a fresh one.
        """
        while not stopping.is_set():
            producer = new_producer()
            try:
                await producer.start()
                async with engine.connect() as lock_connection:
                    if not await self._try_lock(lock_connection):
                        await self._pause(stopping, 1.0)
                        continue
                    await self._drain(engine, producer, stopping, batch_size, idle_poll)
            except Exception as exc:
                log.warning("outbox.relay_failed", schema=self._schema, error=repr(exc)[:300])
                await self._pause(stopping, 1.0)
            finally:
                await producer.stop()

    async def _try_lock(self, connection: AsyncConnection) -> bool:
        got = await connection.scalar(
            text("select pg_try_advisory_lock(:k)"), {"k": self._lock_key}
        )
        await connection.commit()
        return bool(got)

    async def _drain(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        stopping: asyncio.Event,
        batch_size: int,
        idle_poll: float,
    ) -> None:
        while not stopping.is_set():
            self._wake.clear()
            relayed = await self.relay_once(engine, producer, batch_size=batch_size)
            if relayed < batch_size:
                await self._pause(stopping, idle_poll, wake=True)

    async def relay_once(
        self, engine: AsyncEngine, producer: AIOKafkaProducer, *, batch_size: int = 500
    ) -> int:
        """Publish the oldest waiting events, delete the acknowledged ones; return how many."""
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(self.table).order_by(self.table.c.id).limit(batch_size)
                )
            ).all()
            OUTBOX_DEPTH.labels(self._schema).set(len(rows))
            if not rows:
                return 0
            futures = [
                await producer.send(
                    row.topic,
                    value=row.value,
                    key=row.key,
                    headers=[(k, v.encode()) for k, v in row.headers],
                )
                for row in rows
            ]
            acknowledged: list[int] = []
            per_topic: collections.Counter[str] = collections.Counter()
            for row, future in zip(rows, futures, strict=True):
                try:
                    await future
                except Exception as exc:
                    log.warning(
                        "outbox.send_failed",
                        schema=self._schema,
                        topic=row.topic,
                        ce_id=header([(k, v.encode()) for k, v in row.headers], "ce_id"),
                        error=repr(exc)[:300],
                    )
                    break
                acknowledged.append(row.id)
                per_topic[row.topic] += 1
            if acknowledged:
                await connection.execute(
                    delete(self.table).where(self.table.c.id.in_(acknowledged))
                )
                await connection.commit()
                for topic, relayed in per_topic.items():
                    RELAYED.labels(self._schema, topic).inc(relayed)
            if len(acknowledged) < len(rows):
                raise ConnectionError("broker did not acknowledge every event")
            return len(acknowledged)

    async def _pause(self, stopping: asyncio.Event, seconds: float, *, wake: bool = False) -> None:
        waiters = [asyncio.ensure_future(stopping.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
        for waiter in pending:
            waiter.cancel()
