"""Ingest throughput and latency, against the empty endpoint of the same server and the raw
producer rate of the same broker, all measured in one run."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from cxloop_shared.cloudevents import encode
from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived
from cxloop_shared.operations import create_topics

from bench.runner import Load, closed_loop

BATCH = 100
RAW_TOPIC = "bench.raw"
_ids = itertools.count()


def _event() -> dict[str, Any]:
    n = next(_ids)
    customer = n % 5000
    return {
        "id": f"bench-{n}",
        "touchpoint": "checkout",
        "occurred_at": "2026-11-23T07:00:00Z",
        "customer": {"id": f"c-{customer}", "email": f"c{customer}@example.com"},
        "attributes": {"order_value": 42.0},
    }


async def run(*, ingest_url: str, ingest_key: str, seconds: float, concurrency: int) -> list[Load]:
    """The empty endpoint (`/healthz`: same app, same middleware, no work), one event per
    request, batches of 100."""

    async def empty(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/healthz")

    headers = {"Authorization": f"Bearer {ingest_key}"}

    async def one_event(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.post("/v1/events", headers=headers, json=_event())

    async def batch(client: httpx.AsyncClient, _: int) -> httpx.Response:
        body = {"events": [_event() for _ in range(BATCH)]}
        return await client.post("/v1/events", headers=headers, json=body)

    common = {"base_url": ingest_url, "seconds": seconds, "concurrency": concurrency}
    return [
        await closed_loop("ingest empty endpoint", empty, expect={200}, **common),
        await closed_loop("ingest single event", one_event, expect={202}, **common),
        await closed_loop(
            f"ingest batch of {BATCH}", batch, expect={202}, items_per_request=BATCH, **common
        ),
    ]


async def raw_producer(*, bootstrap: str, idempotence: bool, seconds: float) -> Load:
    """What the broker takes from one producer: touchpoint-sized records, acks=all, in
    windows of 1000 outstanding sends. The ceiling no ingest relay can beat."""
    await create_topics(bootstrap, {RAW_TOPIC: 4})
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotence, linger_ms=5
    )
    await producer.start()
    sample = TouchpointReceived(
        workspace_id="bench",
        source="api",
        received_at=datetime.now(UTC),
        event=Touchpoint.model_validate(_event() | {"customer": Customer(id="c-1")}),
    )
    record = encode(sample, topic=RAW_TOPIC, source="bench")
    latencies: list[float] = []
    sent = 0
    try:
        # Warm up: the topic's leaders are elected and the connections open before timing.
        await producer.send_and_wait(
            RAW_TOPIC, record.value, key=b"warm-up", headers=record.headers
        )
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            window = time.perf_counter()
            futures = [
                await producer.send(
                    RAW_TOPIC, record.value, key=f"k{n}".encode(), headers=record.headers
                )
                for n in range(1000)
            ]
            await asyncio.gather(*futures)
            latencies.append((time.perf_counter() - window) * 1000)
            sent += len(futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return Load("raw producer (same broker)", len(latencies), elapsed, latencies, 0, 1000)
