"""Scoring's wiring: database, Kafka consumer, configuration cache and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, ping, session_factory
from cxloop_shared.http import install_error_handlers, install_probes
from cxloop_shared.kafka import BatchConsumer, create_producer
from cxloop_shared.service import Workers
from cxloop_shared.topics import INVITATIONS, RESPONSES
from fastapi import FastAPI

from cxloop_scoring.endpoints import router
from cxloop_scoring.handlers import ScoringHandler
from cxloop_scoring.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The scoring service as an ASGI app; its lifespan runs the consumer."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        configs = ConfigCache(sessions, ttl=settings.config_cache_ttl_seconds)
        producer = create_producer(settings)
        await producer.start()
        consumer = BatchConsumer(
            settings=settings,
            topics=[RESPONSES, INVITATIONS],
            group_id=settings.consumer_group,
            handler=ScoringHandler(sessions=sessions, configs=configs),
            producer=producer,
        )
        workers = Workers()
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.configs = configs
        app.state.consumer = consumer
        workers.start("consumer", consumer.run(), on_stop=consumer.stop)
        try:
            yield
        finally:
            await workers.stop(grace=settings.shutdown_grace_seconds)
            await producer.stop()
            await engine.dispose()

    app = FastAPI(title="cxloop scoring", lifespan=lifespan)

    async def database() -> None:
        await ping(app.state.engine)

    install_error_handlers(app)
    install_probes(app, service="scoring", readiness=[database])
    app.include_router(router)
    return app
