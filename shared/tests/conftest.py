"""The shared library against the suite's real Postgres and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from cxloop_shared.db import create_engine
from cxloop_shared.kafka import create_producer
from cxloop_shared.operations import create_topics
from cxloop_shared.settings import ServiceSettings
from cxloop_shared.topics import dlq
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(kafka_bootstrap: str, kafka_idempotence: bool) -> ServiceSettings:
    return ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=kafka_idempotence
    )


@pytest.fixture
async def producer(settings: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = create_producer(settings)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    """A fresh single-partition topic and its dead-letter topic."""
    name = f"test.{uuid4().hex[:8]}"
    await create_topics(kafka_bootstrap, {name: 1, dlq(name): 1})
    return name
