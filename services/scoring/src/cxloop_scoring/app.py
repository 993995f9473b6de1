"""Scoring's wiring: database, Kafka consumers, outbox relay, webhook deliveries, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, ping, session_factory
from cxloop_shared.http import install_error_handlers, install_probes
from cxloop_shared.kafka import BatchConsumer, create_producer
from cxloop_shared.outbox import Outbox
from cxloop_shared.service import Workers
from cxloop_shared.topics import CUSTOMERS, INVITATIONS, RESPONSES, TOUCHPOINTS
from fastapi import FastAPI

from cxloop_scoring.customer_reads import router as customers_router
from cxloop_scoring.deliveries import DeliveryWorker
from cxloop_scoring.endpoints import router
from cxloop_scoring.erasure import ErasureHandler
from cxloop_scoring.handlers import ScoringHandler, TouchpointHandler
from cxloop_scoring.outcome_endpoints import router as outcome_router
from cxloop_scoring.response_endpoints import router as responses_router
from cxloop_scoring.settings import Settings
from cxloop_scoring.tables import outbox


def create_app(settings: Settings) -> FastAPI:
    """The scoring service as an ASGI app; its lifespan runs the consumers and workers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        configs = ConfigCache(sessions, ttl=settings.config_cache_ttl_seconds)
        alerts = Outbox(outbox, source="cxloop/scoring")
        producer = create_producer(settings)
        await producer.start()
        consumer = BatchConsumer(
            settings=settings,
            topics=[RESPONSES, INVITATIONS],
            group_id=settings.consumer_group,
            handler=ScoringHandler(sessions=sessions, configs=configs, outbox=alerts),
            producer=producer,
        )
        # Their own group, so a burst of touchpoints never delays answers and alerts.
        touchpoints = BatchConsumer(
            settings=settings,
            topics=[TOUCHPOINTS],
            group_id=f"{settings.consumer_group}-touchpoints",
            handler=TouchpointHandler(sessions=sessions),
            producer=producer,
        )
        erasures = BatchConsumer(
            settings=settings,
            topics=[CUSTOMERS],
            group_id=f"{settings.consumer_group}-customers",
            handler=ErasureHandler(sessions=sessions),
            producer=producer,
        )
        webhooks = DeliveryWorker(sessions=sessions, configs=configs, settings=settings)
        workers = Workers()
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.configs = configs
        app.state.consumers = [consumer, touchpoints, erasures]
        workers.start("consumer", consumer.run(), on_stop=consumer.stop)
        workers.start("touchpoints", touchpoints.run(), on_stop=touchpoints.stop)
        workers.start("erasures", erasures.run(), on_stop=erasures.stop)
        workers.start(
            "outbox-relay",
            alerts.relay_forever(
                engine, lambda: create_producer(settings), stopping=workers.stopping
            ),
        )
        workers.start("webhooks", webhooks.run(workers.stopping))
        try:
            yield
        finally:
            await workers.stop(grace=settings.shutdown_grace_seconds)
            await producer.stop()
            await engine.dispose()

    app = FastAPI(title="cxloop scoring", lifespan=lifespan)

    async def database() -> None:
        await ping(app.state.engine)

    async def kafka_consumers() -> None:
        if not all(consumer.ready for consumer in app.state.consumers):
            raise RuntimeError("not consuming yet")

    install_error_handlers(app)
    install_probes(app, service="scoring", readiness=[database, kafka_consumers])
    app.include_router(router)
    app.include_router(customers_router)
    app.include_router(responses_router)
    app.include_router(outcome_router)
    return app
