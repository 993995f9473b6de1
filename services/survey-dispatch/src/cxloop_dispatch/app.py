"""The dispatcher's wiring: consumer, scheduler, outbox relay, probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cxloop_shared import topics
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, ping, session_factory
from cxloop_shared.http import install_error_handlers, install_probes
from cxloop_shared.kafka import BatchConsumer, create_producer
from cxloop_shared.outbox import Outbox
from cxloop_shared.service import Workers
from fastapi import FastAPI

from cxloop_dispatch import customer_endpoints, endpoints
from cxloop_dispatch.handlers import CustomerHandler, ResponseHandler, TouchpointHandler
from cxloop_dispatch.scheduler import Scheduler
from cxloop_dispatch.settings import Settings
from cxloop_dispatch.tables import outbox


def create_app(settings: Settings | None = None) -> FastAPI:
    """The survey-dispatch application."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        configs = ConfigCache(sessions, ttl=settings.config_cache_ttl_seconds)
        events = Outbox(outbox, source="cxloop/dispatch")
        dlq_producer = create_producer(settings)
        await dlq_producer.start()
        consumer = BatchConsumer(
            settings=settings,
            topics=[topics.TOUCHPOINTS],
            group_id="dispatch",
            handler=TouchpointHandler(
                sessions=sessions,
                configs=configs,
                outbox=events,
                link_secret=settings.link_secret.get_secret_value(),
            ),
            producer=dlq_producer,
        )
        # Consent and erasure: their own group, so a burst of touchpoints never
        # delays an opt-out.
        customers = BatchConsumer(
            settings=settings,
            topics=[topics.CUSTOMERS],
            group_id="dispatch-customers",
            handler=CustomerHandler(sessions=sessions, configs=configs, outbox=events),
            producer=dlq_producer,
        )
        responses = BatchConsumer(
            settings=settings,
            topics=[topics.RESPONSES],
            group_id="dispatch-responses",
            handler=ResponseHandler(sessions=sessions),
            producer=dlq_producer,
        )
        scheduler = Scheduler(sessions=sessions, configs=configs, outbox=events, settings=settings)
        workers = Workers()
        workers.start("touchpoints", consumer.run(), on_stop=consumer.stop)
        workers.start("customers", customers.run(), on_stop=customers.stop)
        workers.start("responses", responses.run(), on_stop=responses.stop)
        workers.start("scheduler", scheduler.run(workers.stopping))
        workers.start(
            "outbox-relay",
            events.relay_forever(
                engine, lambda: create_producer(settings), stopping=workers.stopping
            ),
        )
        app.state.engine = engine
        app.state.settings = settings
        app.state.sessions = sessions
        app.state.configs = configs
        app.state.outbox = events
        app.state.consumer = consumer
        try:
            yield
        finally:
            await workers.stop(grace=settings.shutdown_grace_seconds)
            await dlq_producer.stop()
            await engine.dispose()

    app = FastAPI(title="cxloop survey-dispatch", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)

    async def database() -> None:
        await ping(app.state.engine)

    async def kafka_consumer() -> None:
        if not app.state.consumer.ready:
            raise RuntimeError("not consuming yet")

    install_probes(app, service="dispatch", readiness=[database, kafka_consumer])
    app.include_router(endpoints.router)
    app.include_router(customer_endpoints.router)
    return app
