"""The gateway in-process against the suite's real Postgres, plus a stand-in for scoring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cxloop_devstack.serving import serving
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from fastapi import FastAPI
from gateway_support import (
    ADMIN,
    ADMIN_TOKEN,
    INTERNAL_TOKEN,
    FakeScoring,
    NewWorkspace,
    fake_scoring_app,
)
from pydantic import SecretStr


@pytest.fixture(scope="session")
def fake_scoring() -> Iterator[FakeScoring]:
    seen = FakeScoring()
    with serving(fake_scoring_app(seen)) as url:
        seen.url = url
        yield seen


@pytest.fixture(scope="session")
def settings(database_url: str, fake_scoring: FakeScoring) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token=SecretStr(ADMIN_TOKEN),
        internal_token=SecretStr(INTERNAL_TOKEN),
        scoring_url=fake_scoring.url,
        scoring_timeout_seconds=5.0,
        # Tests share the admin token and fire requests back to back; the rate limit has
        # its own tests (test_gateway_limits.py) with an app and a clock of their own.
        rate_limit_per_second=10_000.0,
        rate_limit_burst=10_000,
    )


@pytest.fixture(scope="session")
async def gateway_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The gateway app with its lifespan running (ASGITransport does not run it)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def gateway(gateway_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the gateway in-process."""
    transport = httpx.ASGITransport(app=gateway_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture(scope="session")
def gateway_url(settings: Settings) -> Iterator[str]:
    """The gateway served over real HTTP, for the synchronous `cxloop` command line."""
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
async def workspace(gateway: httpx.AsyncClient, workspace_id: str) -> NewWorkspace:
    created = await gateway.post("/v1/workspaces", json={"id": workspace_id}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return NewWorkspace(workspace_id, created.json()["admin_key"]["key"])
