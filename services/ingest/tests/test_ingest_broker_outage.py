"""Kafka goes down while events are posted: ingest keeps accepting, and the outbox catches up.

This test has its own broker (it stops it) and its own database (so the suite's
other ingest instance cannot relay this test's outbox to the suite's broker).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cxloop_devstack.kafka import ApacheKafka
from cxloop_devstack.postgres import create_database
from cxloop_devstack.services import prepare_stack
from cxloop_gateway.app import create_app as create_gateway
from cxloop_gateway.settings import Settings as GatewaySettings
from cxloop_ingest.app import create_app
from cxloop_ingest.settings import Settings
from cxloop_shared import topics
from cxloop_shared.cloudevents import decode
from cxloop_shared.events import TouchpointReceived
from ingest_support import ADMIN_TOKEN, LINK_SECRET, Workspace, ingest_config, partitions
from pydantic import SecretStr
from sqlalchemy import text

CUSTOMERS = 5
PER_CUSTOMER = 24


@pytest.fixture
async def broker(apache_kafka: None, tmp_path: Path) -> AsyncIterator[ApacheKafka]:
    kafka = ApacheKafka(tmp_path / "kafka")
    await asyncio.to_thread(kafka.start)
    try:
        yield kafka
    finally:
        await asyncio.to_thread(kafka.stop)


async def read_all(bootstrap: str, workspace_id: str) -> list[TouchpointReceived]:
    """Every touchpoint on the broker for the workspace, read to each partition's end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    parts = await partitions(bootstrap, [topics.TOUCHPOINTS])
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        events = []
        async with asyncio.timeout(30):
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    events += [decode(r.headers, r.value) for r in records]
    finally:
        await consumer.stop()
    return [
        e for e in events if isinstance(e, TouchpointReceived) and e.workspace_id == workspace_id
    ]


async def test_events_posted_while_kafka_is_down_arrive_once_in_order(
    broker: ApacheKafka, database_url: str, workspace_id: str
) -> None:
    url = await create_database(database_url, f"outage_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(prepare_stack, database_url=url, bootstrap=broker.bootstrap_servers)
    gateway_app = create_gateway(
        GatewaySettings(database_url=url, admin_token=SecretStr(ADMIN_TOKEN))
    )
    async with (
        gateway_app.router.lifespan_context(gateway_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway"
        ) as gateway,
    ):
        workspace = await Workspace.create(gateway, ingest_config(workspace_id))

    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_idempotence=True,
        link_secret=SecretStr(LINK_SECRET),
    )
    app = create_app(settings)
    accepted: list[str] = []
    half = asyncio.Event()
    down = asyncio.Event()

    async def post(customer: str) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingest.test"
        ) as ingest:
            for n in range(PER_CUSTOMER):
                event_id = f"{customer}-{n:02d}"
                body = {
                    "id": event_id,
                    "touchpoint": "checkout",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "customer": {"id": customer},
                }
                answer = await ingest.post("/v1/events", json=body, headers=workspace.auth())
                assert answer.status_code == 202, answer.text
                accepted.append(event_id)
                if len(accepted) >= CUSTOMERS * PER_CUSTOMER // 3:
                    half.set()
                if n == PER_CUSTOMER * 2 // 3:
                    await down.wait()  # the last third goes in while the broker is down
                await asyncio.sleep(0.01)

    async def outage() -> None:
        await half.wait()
        await asyncio.to_thread(broker.stop)
        down.set()

    async with app.router.lifespan_context(app):
        await asyncio.gather(outage(), *(post(f"c-{c}") for c in range(CUSTOMERS)))
        async with app.state.engine.connect() as connection:
            waiting = await connection.scalar(text("select count(*) from ingest.outbox"))
        assert waiting, "the broker went down too late to test anything"
        await asyncio.to_thread(broker.start)
        async with asyncio.timeout(60):
            while waiting:
                await asyncio.sleep(0.2)
                async with app.state.engine.connect() as connection:
                    waiting = await connection.scalar(text("select count(*) from ingest.outbox"))

    published = await read_all(broker.bootstrap_servers, workspace.id)
    ids = [e.event.id for e in published]
    assert sorted(ids) == sorted(accepted), "every 2xx event exactly once"
    for c in range(CUSTOMERS):
        mine = [i for i in ids if i.startswith(f"c-{c}-")]
        assert mine == [f"c-{c}-{n:02d}" for n in range(PER_CUSTOMER)]
