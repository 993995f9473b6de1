"""The gateway with real services behind it, for the tests that sweep every route (the
security matrix, schemathesis): scoring's and dispatch's internal read routes on the
suite's Postgres, and the gateway on the suite's Kafka, each served over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from cxloop_devstack.serving import serving
from cxloop_dispatch import customer_endpoints as dispatch_customers
from cxloop_dispatch.settings import Settings as DispatchSettings
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from cxloop_scoring import customer_reads, endpoints, outcome_endpoints, response_endpoints
from cxloop_scoring.settings import Settings as ScoringSettings
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.http import install_error_handlers
from cxloop_shared.settings import ServiceSettings
from fastapi import APIRouter, FastAPI

# Every internal route the gateway reads from scoring, and from dispatch.
SCORING_ROUTERS = (
    endpoints.router,
    customer_reads.router,
    response_endpoints.router,
    outcome_endpoints.router,
)
DISPATCH_ROUTERS = (dispatch_customers.router,)


def internal_reads(settings: ServiceSettings, routers: Sequence[APIRouter]) -> FastAPI:
    """A service's internal read routes with the state they use, and none of its consumers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=3)
        sessions = session_factory(engine)
        app.state.settings = settings
        app.state.sessions = sessions
        app.state.configs = ConfigCache(sessions, ttl=0)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


@dataclass(frozen=True)
class Stack:
    """The gateway served over HTTP, its app and its settings."""

    url: str
    app: FastAPI
    settings: Settings


@contextmanager
def gateway_stack(settings: Settings, *, kafka_bootstrap: str, **overrides: Any) -> Iterator[Stack]:
    """Scoring's and dispatch's read routes, and a gateway pointing at them and at Kafka."""
    shared = {"database_url": settings.database_url, "internal_token": settings.internal_token}
    with (
        serving(internal_reads(ScoringSettings(**shared), SCORING_ROUTERS)) as scoring_url,
        serving(internal_reads(DispatchSettings(**shared), DISPATCH_ROUTERS)) as dispatch_url,
    ):
        gateway_settings = settings.model_copy(
            update={
                "scoring_url": scoring_url,
                "dispatch_url": dispatch_url,
                "kafka_bootstrap_servers": kafka_bootstrap,
                "shutdown_grace_seconds": 5.0,
                **overrides,
            }
        )
        app = create_app(gateway_settings)
        with serving(app) as url:
            yield Stack(url, app, gateway_settings)
