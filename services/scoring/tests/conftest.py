"""Scoring against the suite's real Postgres: sessions, the batch handler, the read API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from cxloop_scoring.endpoints import router
from cxloop_scoring.handlers import ScoringHandler, TouchpointHandler
from cxloop_scoring.settings import Settings
from cxloop_scoring.tables import outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import CxEvent, TouchpointReceived
from cxloop_shared.http import install_error_handlers
from cxloop_shared.outbox import Outbox
from fastapi import FastAPI
from pydantic import SecretStr
from scoring_support import INTERNAL_TOKEN, deliveries
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def configs(sessions: async_sessionmaker[AsyncSession]) -> ConfigCache:
    return ConfigCache(sessions, ttl=0)


@pytest.fixture
def handler(sessions: async_sessionmaker[AsyncSession], configs: ConfigCache) -> ScoringHandler:
    return ScoringHandler(sessions=sessions, configs=configs, outbox=Outbox(outbox, source="tests"))


@pytest.fixture
async def handle(handler: ScoringHandler, sessions: async_sessionmaker[AsyncSession]) -> Any:
    """Hand a batch of events to scoring's batch handlers, as the consumers do: touchpoints
    to the touchpoint consumer's, the rest to the answer and invitation consumer's."""
    touchpoints = TouchpointHandler(sessions=sessions)

    async def handle_events(events: Sequence[CxEvent]) -> None:
        received = [event for event in events if isinstance(event, TouchpointReceived)]
        others = [event for event in events if not isinstance(event, TouchpointReceived)]
        if received:
            await touchpoints(deliveries(received))
        if others:
            await handler(deliveries(others))

    return handle_events


@pytest.fixture
async def configure(engine: AsyncEngine) -> AsyncIterator[Any]:
    """Store a workspace configuration in the gateway's table, as the gateway does.

    Webhook deliveries the test left pending are dropped afterwards, so a delivery
    worker in a later test never spends its attempts on an endpoint that is gone.
    """
    configured: list[str] = []

    async def store(workspace_id: str, **document: Any) -> None:
        configured.append(workspace_id)
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

    yield store
    if configured:
        async with engine.begin() as connection:
            await connection.execute(
                text("delete from scoring.webhook_deliveries where workspace_id = any(:w)"),
                {"w": configured},
            )


@pytest.fixture
async def reconfigure(engine: AsyncEngine) -> Any:
    """Replace a stored workspace configuration (a new version, as the gateway keeps it)."""

    async def replace(workspace_id: str, **document: Any) -> None:
        document = {"workspace": workspace_id, **document}
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "update gateway.workspace_configs set document = cast(:d as jsonb),"
                    " version = version + 1 where workspace_id = :w"
                ),
                {"w": workspace_id, "d": json.dumps(document)},
            )

    return replace


@pytest.fixture
async def api(
    sessions: async_sessionmaker[AsyncSession], configs: ConfigCache
) -> AsyncIterator[httpx.AsyncClient]:
    """Scoring's routes on a bare app: no lifespan, so no Kafka consumer."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings = Settings(internal_token=SecretStr(INTERNAL_TOKEN))
    app.state.sessions = sessions
    app.state.configs = configs
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        yield client
