"""Ingest in-process against the suite's real Postgres and Kafka, configured through the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cxloop_gateway.app import create_app as create_gateway
from cxloop_gateway.settings import Settings as GatewaySettings
from cxloop_ingest.app import create_app
from cxloop_ingest.settings import Settings
from fastapi import FastAPI
from ingest_support import ADMIN_TOKEN, LINK_SECRET, KafkaTap, Workspace, ingest_config
from pydantic import SecretStr


@pytest.fixture(scope="session")
def ingest_settings(database_url: str, kafka_bootstrap: str, kafka_idempotence: bool) -> Settings:
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        link_secret=SecretStr(LINK_SECRET),
        config_cache_ttl_seconds=0.5,
    )


@pytest.fixture(scope="session")
async def ingest_app(ingest_settings: Settings) -> AsyncIterator[FastAPI]:
    """Ingest with its lifespan running: group commit, outbox relay, invitations consumer."""
    app = create_app(ingest_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def ingest(ingest_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ingest_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
        yield client


@pytest.fixture(scope="session")
async def gateway(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway, which owns workspaces, keys and configuration."""
    settings = GatewaySettings(
        database_url=database_url,
        admin_token=SecretStr(ADMIN_TOKEN),
        scoring_url="http://127.0.0.1:9",
    )
    app = create_gateway(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


@pytest.fixture(scope="session")
async def tap(kafka_bootstrap: str, ingest_app: FastAPI) -> AsyncIterator[KafkaTap]:
    """Everything published on cxloop's topics from now on."""
    async with KafkaTap(kafka_bootstrap, engine=ingest_app.state.engine) as tapped:
        yield tapped


@pytest.fixture
async def workspace(gateway: httpx.AsyncClient, workspace_id: str) -> Workspace:
    """A workspace with one source of every kind, an SMS channel and the keys ingest takes."""
    return await Workspace.create(gateway, ingest_config(workspace_id))
