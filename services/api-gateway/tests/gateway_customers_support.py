"""Helpers of the gateway's customer tests: dispatch's and scoring's real internal read
APIs served over HTTP against the suite's Postgres, and their handlers fed directly."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from cxloop_dispatch.customer_endpoints import router as dispatch_router
from cxloop_dispatch.handlers import CustomerHandler as DispatchCustomers
from cxloop_dispatch.handlers import TouchpointHandler as DispatchTouchpoints
from cxloop_dispatch.settings import Settings as DispatchSettings
from cxloop_dispatch.tables import outbox as dispatch_outbox
from cxloop_scoring.customer_reads import router as scoring_router
from cxloop_scoring.erasure import ErasureHandler
from cxloop_scoring.handlers import ScoringHandler
from cxloop_scoring.handlers import TouchpointHandler as ScoringTouchpoints
from cxloop_scoring.settings import Settings as ScoringSettings
from cxloop_scoring.tables import outbox as scoring_outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import CustomerChanged, CxEvent, TouchpointReceived
from cxloop_shared.http import install_error_handlers
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_offsets = itertools.count()


def internal_api(router: APIRouter, settings: BaseSettings, database_url: str) -> FastAPI:
    """One service's internal routes on an app of their own, with an engine made in the
    loop that serves them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(database_url, pool_size=2)
        app.state.settings = settings
        app.state.sessions = session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    return app


def dispatch_api(database_url: str, token: str) -> FastAPI:
    """Dispatch's customer and trace routes."""
    settings = DispatchSettings(internal_token=SecretStr(token))
    return internal_api(dispatch_router, settings, database_url)


def scoring_api(database_url: str, token: str) -> FastAPI:
    """Scoring's customer timeline route."""
    settings = ScoringSettings(internal_token=SecretStr(token))
    return internal_api(scoring_router, settings, database_url)


class Services:
    """Dispatch's and scoring's consumers' handlers, handed events as the consumers would."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        configs = ConfigCache(sessions, ttl=0)
        relay = Outbox(dispatch_outbox, source="tests")
        self._dispatch_touchpoints = DispatchTouchpoints(
            sessions=sessions, configs=configs, outbox=relay, link_secret="gateway-test-secret"
        )
        self._dispatch_customers = DispatchCustomers(
            sessions=sessions, configs=configs, outbox=relay
        )
        self._scoring_touchpoints = ScoringTouchpoints(sessions=sessions)
        self._scoring = ScoringHandler(
            sessions=sessions, configs=configs, outbox=Outbox(scoring_outbox, source="tests")
        )
        self._scoring_erasures = ErasureHandler(sessions=sessions)

    async def handle(self, events: Sequence[CxEvent]) -> None:
        """Each event to every handler of its topic, in order."""
        for event in events:
            batch = [Delivery("tests", 0, next(_offsets), event, [])]
            handlers: list[Any]
            if isinstance(event, TouchpointReceived):
                handlers = [self._dispatch_touchpoints, self._scoring_touchpoints]
            elif isinstance(event, CustomerChanged):
                handlers = [self._dispatch_customers, self._scoring_erasures]
            else:
                handlers = [self._scoring]
            for handler in handlers:
                await handler(batch)
