"""Wiring of the api-gateway: settings, database, scoring client, auth and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from cxloop_shared.apikeys import KeyVerifier
from cxloop_shared.db import create_engine, ping, session_factory
from cxloop_shared.http import install_error_handlers, install_probes
from fastapi import FastAPI

from cxloop_gateway.alerts.endpoints import router as alerts_router
from cxloop_gateway.auth import Authenticator
from cxloop_gateway.config.endpoints import router as config_router
from cxloop_gateway.customers.endpoints import router as customers_router
from cxloop_gateway.customers.erasures import ErasurePublisher
from cxloop_gateway.dashboard.endpoints import router as dashboard_router
from cxloop_gateway.events.endpoints import router as events_router
from cxloop_gateway.journeys.endpoints import router as journeys_router
from cxloop_gateway.keys.endpoints import router as keys_router
from cxloop_gateway.limits import RateLimiter, install_request_limits
from cxloop_gateway.metrics.endpoints import router as metrics_router
from cxloop_gateway.openapi import install_openapi, operation_id
from cxloop_gateway.outcomes.endpoints import router as outcomes_router
from cxloop_gateway.responses.endpoints import router as responses_router
from cxloop_gateway.scoring import ScoringClient
from cxloop_gateway.settings import DEV_ADMIN_TOKEN, Settings
from cxloop_gateway.stream.endpoints import router as stream_router
from cxloop_gateway.stream.feed import live_stream
from cxloop_gateway.workspaces.endpoints import router as workspaces_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The gateway's ASGI app; its collaborators live on `app.state` while the lifespan runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.admin_token.get_secret_value() == DEV_ADMIN_TOKEN:
            log.warning("gateway.dev_admin_token", hint="set CXLOOP_ADMIN_TOKEN")
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        scoring_http = httpx.AsyncClient(
            base_url=settings.scoring_url, timeout=settings.scoring_timeout_seconds
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        # ttl=0: the gateway is where keys are revoked, so it never trusts a cached key.
        app.state.authenticator = Authenticator(
            admin_token=settings.admin_token,
            verifier=KeyVerifier(sessions, ttl=0),
            touch_interval=settings.key_touch_interval_seconds,
            limiter=RateLimiter(
                per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst
            ),
        )
        app.state.scoring = ScoringClient(scoring_http, internal_token=settings.internal_token)
        dispatch_http = httpx.AsyncClient(
            base_url=settings.dispatch_url, timeout=settings.dispatch_timeout_seconds
        )
        app.state.dispatch = ScoringClient(
            dispatch_http, internal_token=settings.internal_token, service="dispatch"
        )
        app.state.erasures = ErasurePublisher(settings)
        try:
            async with live_stream(settings) as hub:
                app.state.stream = hub
                yield
        finally:
            await app.state.erasures.close()
            await dispatch_http.aclose()
            await scoring_http.aclose()
            await engine.dispose()

    app = FastAPI(
        title="cxloop API",
        summary="Workspaces, keys, configuration and customer-experience metrics.",
        version="1",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    install_request_limits(
        app, body_limit_bytes=settings.body_limit_bytes, cors_origins=settings.cors_origins
    )
    install_openapi(app)

    async def database() -> None:
        await ping(app.state.engine)

    install_probes(app, service="gateway", readiness=[database])
    for router in (workspaces_router, keys_router, config_router, metrics_router):
        app.include_router(router)
    app.include_router(dashboard_router)
    app.include_router(customers_router)
    app.include_router(events_router)
    app.include_router(journeys_router)
    app.include_router(responses_router)
    app.include_router(alerts_router)
    app.include_router(stream_router)
    app.include_router(outcomes_router)
    return app
