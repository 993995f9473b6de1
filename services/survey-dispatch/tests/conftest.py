"""Dispatch's handlers against the suite's real Postgres, fed as the consumers feed them."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from cxloop_dispatch.handlers import CustomerHandler, TouchpointHandler
from cxloop_dispatch.tables import outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import CxEvent
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from dispatch_support import LINK_SECRET
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

_offsets = itertools.count()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def handle(sessions: async_sessionmaker[AsyncSession]) -> Any:
    """Hand events to dispatch's handlers, one batch per call, as its consumers would."""
    configs = ConfigCache(sessions, ttl=0)
    events = Outbox(outbox, source="tests")
    touchpoints = TouchpointHandler(
        sessions=sessions, configs=configs, outbox=events, link_secret=LINK_SECRET
    )
    customers = CustomerHandler(sessions=sessions, configs=configs, outbox=events)

    async def handle_events(batch: Sequence[CxEvent], *, topic: str = "cx.touchpoints") -> None:
        deliveries = [Delivery(topic, 0, next(_offsets), event, []) for event in batch]
        handler = customers if topic == "cx.customers" else touchpoints
        await handler(deliveries)

    return handle_events


@pytest.fixture
async def configure(engine: AsyncEngine) -> Any:
    """Store a workspace configuration in the gateway's table, as the gateway does."""

    async def store(workspace_id: str, **document: Any) -> None:
        document = {"workspace": workspace_id, **document}
        async with engine.begin() as connection:
            await connection.execute(
                text("insert into gateway.workspaces (id, name) values (:w, :w)"),
                {"w": workspace_id},
            )
            await connection.execute(
                text(
                    "insert into gateway.workspace_configs (workspace_id, document, version)"
                    " values (:w, cast(:d as jsonb), 1)"
                ),
                {"w": workspace_id, "d": json.dumps(document)},
            )

    return store
