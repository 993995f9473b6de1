"""Ingest's wiring: settings, database, group commit, outbox relay, consumers, routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

import cxloop_shared.topics as topics
import structlog
from aiokafka import AIOKafkaProducer
from cxloop_shared.apikeys import KeyVerifier
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, ping, session_factory, transaction
from cxloop_shared.events import utcnow
from cxloop_shared.http import install_error_handlers, install_probes
from cxloop_shared.kafka import BatchConsumer, create_producer
from cxloop_shared.outbox import Outbox
from cxloop_shared.service import Workers
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_ingest import customer_pages, endpoints, repository
from cxloop_ingest.erasure import ErasureHandler
from cxloop_ingest.intake import Intake
from cxloop_ingest.replies import InvitationHandler
from cxloop_ingest.settings import Settings
from cxloop_ingest.tables import outbox

log = structlog.get_logger(__name__)


async def forget_old_events(
    sessions: async_sessionmaker[AsyncSession], *, days: int, stopping: asyncio.Event
) -> None:
    """Keep the dedupe ledger to `days` of event ids; checked hourly."""
    while not stopping.is_set():
        try:
            async with transaction(sessions) as session:
                cutoff = utcnow() - timedelta(days=days)
                forgotten = await repository.forget_events_before(session, cutoff)
            if forgotten:
                log.info("dedupe.forgotten", events=forgotten, days=days)
        except Exception as exc:
            log.warning("dedupe.forget_failed", error=repr(exc)[:300])
        with suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=3600)


async def consume_when_reachable(
    settings: Settings,
    consumer_of: Callable[[AIOKafkaProducer], BatchConsumer],
    *,
    stopping: asyncio.Event,
    consumers: list[BatchConsumer],
) -> None:
    """Run the consumer `consumer_of` makes once the broker is reachable; ingest itself
    never waits for it."""
    while not stopping.is_set():
        producer = create_producer(settings)  # for dead letters
        try:
            await producer.start()
        except Exception as exc:
            log.info("consumer.waiting_for_kafka", error=repr(exc)[:200])
            await producer.stop()
            with suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=2.0)
            continue
        consumer = consumer_of(producer)
        consumers.append(consumer)
        try:
            if not stopping.is_set():
                await consumer.run()
        finally:
            await producer.stop()
        return


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ingest application."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        workers = Workers()
        events = Outbox(outbox, source="cxloop/ingest")
        configs = ConfigCache(sessions, ttl=settings.config_cache_ttl_seconds)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.outbox = events
        app.state.intake = Intake(sessions, events)
        app.state.keys = KeyVerifier(sessions, ttl=settings.config_cache_ttl_seconds)
        app.state.configs = configs
        consumers: list[BatchConsumer] = []

        async def stop_consumers() -> None:
            for consumer in consumers:
                await consumer.stop()

        # Ingest keeps accepting while Kafka is down: only the relay and the
        # invitations consumer need the broker, and both wait for it.
        workers.start("intake", app.state.intake.run(workers.stopping))
        workers.start(
            "outbox-relay",
            events.relay_forever(
                engine, lambda: create_producer(settings), stopping=workers.stopping
            ),
        )

        def invitations(producer: AIOKafkaProducer) -> BatchConsumer:
            # Invitations sent, so that SMS replies find their question.
            return BatchConsumer(
                settings=settings,
                topics=[topics.INVITATIONS],
                group_id="ingest",
                handler=InvitationHandler(sessions=sessions, configs=configs),
                producer=producer,
            )

        def erasures(producer: AIOKafkaProducer) -> BatchConsumer:
            return BatchConsumer(
                settings=settings,
                topics=[topics.CUSTOMERS],
                group_id="ingest-customers",
                handler=ErasureHandler(sessions=sessions),
                producer=producer,
            )

        for name, consumer_of in (("invitations", invitations), ("erasures", erasures)):
            following = consume_when_reachable(
                settings, consumer_of, stopping=workers.stopping, consumers=consumers
            )
            workers.start(name, following, on_stop=stop_consumers)
        workers.start(
            "dedupe-ledger",
            forget_old_events(sessions, days=settings.dedupe_days, stopping=workers.stopping),
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
    app.include_router(endpoints.router)
    app.include_router(customer_pages.router)
    return app
