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

from cxloop_gateway.auth import Authenticator
from cxloop_gateway.config.endpoints import router as config_router
from cxloop_gateway.keys.endpoints import router as keys_router
from cxloop_gateway.metrics.endpoints import router as metrics_router
from cxloop_gateway.scoring import ScoringClient
from cxloop_gateway.settings import DEV_ADMIN_TOKEN, Settings
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
        )
        app.state.scoring = ScoringClient(scoring_http, internal_token=settings.internal_token)
        try:
            yield
        finally:
            await scoring_http.aclose()
            await engine.dispose()

    app = FastAPI(
        title="cxloop API",
        summary="Workspaces, keys, configuration and customer-experience metrics.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    async def database() -> None:
        await ping(app.state.engine)

    install_probes(app, service="gateway", readiness=[database])
    for router in (workspaces_router, keys_router, config_router, metrics_router):
        app.include_router(router)
    return app
