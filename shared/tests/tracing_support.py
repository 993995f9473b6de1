"""Helpers for the tracing and log-context tests: an in-memory tracer, an outbox in a
throwaway schema, a consumer running in the background."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from cxloop_shared import tracing
from cxloop_shared.kafka import BatchConsumer, BatchHandler
from cxloop_shared.outbox import Outbox, outbox_table
from cxloop_shared.settings import ServiceSettings
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """Tracing on, every finished span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield provider, exporter
    finally:
        tracing.disable()
        provider.shutdown()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    """The finished spans called `name`."""
    return [span for span in spans if span.name == name]


@asynccontextmanager
async def outbox_in_schema(engine: AsyncEngine) -> AsyncIterator[Outbox]:
    """An outbox table in a schema of its own, dropped afterwards."""
    schema = f"test_tracing_{uuid4().hex[:8]}"
    metadata = MetaData(schema=schema)
    table = outbox_table(metadata)
    async with engine.begin() as connection:
        await connection.execute(text(f'create schema "{schema}"'))
        await connection.run_sync(metadata.create_all)
    try:
        yield Outbox(table, source="/test/tracing")
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'drop schema "{schema}" cascade'))


@asynccontextmanager
async def running(
    *,
    settings: ServiceSettings,
    topic: str,
    handler: BatchHandler,
    producer: AIOKafkaProducer,
    max_attempts: int = 3,
) -> AsyncIterator[BatchConsumer]:
    """A batch consumer of `topic` in a fresh group, running until the block ends."""
    consumer = BatchConsumer(
        settings=settings,
        topics=[topic],
        group_id=f"test-tracing-{uuid4().hex[:8]}",
        handler=handler,
        producer=producer,
        max_attempts=max_attempts,
        retry_delay=0.01,
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, timeout=10)
