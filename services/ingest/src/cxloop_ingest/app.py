"""Ingest's wiring: settings, database, Kafka producer, outbox relay, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cxloop_shared.apikeys import KeyVerifier
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, ping, session_factory
from cxloop_shared.http import install_error_handlers, install_probes
from cxloop_shared.kafka import create_producer
from cxloop_shared.outbox import Outbox
from cxloop_shared.service import Workers
from fastapi import FastAPI

from cxloop_ingest.endpoints import router
from cxloop_ingest.settings import Settings
from cxloop_ingest.tables import outbox


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ingest application."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        workers = Workers()
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.outbox = Outbox(outbox, source="cxloop/ingest")
        app.state.keys = KeyVerifier(sessions, ttl=settings.config_cache_ttl_seconds)
        app.state.configs = ConfigCache(sessions, ttl=settings.config_cache_ttl_seconds)
        # Ingest keeps accepting while Kafka is down: only the relay needs the broker.
        workers.start(
            "outbox-relay",
            app.state.outbox.relay_forever(
                engine, lambda: create_producer(settings), stopping=workers.stopping
            ),
        )
        try:
            yield
        finally:
            await workers.stop(grace=settings.shutdown_grace_seconds)
            await engine.dispose()

    app = FastAPI(title="cxloop ingest", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)

    async def database() -> None:
        await ping(app.state.engine)

    install_probes(app, service="ingest", readiness=[database])
    app.include_router(router)
    return app
