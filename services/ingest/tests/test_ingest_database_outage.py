"""Postgres goes down: ingest answers 503 with Retry-After (never 500, never a false 2xx).

This test has its own Postgres, which it stops and starts again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cxloop_devstack.postgres import EmbeddedPostgres
from cxloop_devstack.services import prepare_stack
from cxloop_gateway.app import create_app as create_gateway
from cxloop_gateway.settings import Settings as GatewaySettings
from cxloop_ingest.app import create_app
from cxloop_ingest.settings import Settings
from ingest_support import ADMIN_TOKEN, LINK_SECRET, Workspace, ingest_config
from pydantic import SecretStr


@pytest.fixture
async def postgres(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "postgres", fast=True)
    url = await asyncio.to_thread(server.start)
    await asyncio.to_thread(prepare_stack, database_url=url, bootstrap=kafka_bootstrap)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def event(event_id: str) -> dict[str, object]:
    return {
        "id": event_id,
        "touchpoint": "checkout",
        "occurred_at": datetime.now(UTC).isoformat(),
        "customer": {"id": "c-1"},
    }


async def test_a_database_outage_is_a_503_with_retry_after_and_recovers(
    postgres: EmbeddedPostgres, kafka_bootstrap: str, workspace_id: str
) -> None:
    gateway_app = create_gateway(
        GatewaySettings(database_url=postgres.url, admin_token=SecretStr(ADMIN_TOKEN))
    )
    async with (
        gateway_app.router.lifespan_context(gateway_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway"
        ) as gateway,
    ):
        workspace = await Workspace.create(gateway, ingest_config(workspace_id))
    settings = Settings(
        database_url=postgres.url,
        kafka_bootstrap_servers=kafka_bootstrap,
        link_secret=SecretStr(LINK_SECRET),
        config_cache_ttl_seconds=60,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingest.test"
        ) as ingest,
    ):
        before = await ingest.post("/v1/events", json=event("e-1"), headers=workspace.auth())
        await asyncio.to_thread(postgres.stop)
        # The key is still in ingest's cache: the request gets as far as the commit.
        cached_key = await ingest.post("/v1/events", json=event("e-2"), headers=workspace.auth())
        answer = await ingest.post(
            "/v1/responses",
            json={"id": "r-1", "touchpoint": "checkout", "customer_id": "c-1", "score": 5},
            headers=workspace.auth(workspace.responses_key),
        )
        await asyncio.to_thread(postgres.start)
        after = await ingest.post("/v1/events", json=event("e-2"), headers=workspace.auth())

    assert before.status_code == 202
    for refused in (cached_key, answer):
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["content-type"] == "application/problem+json"
    assert after.status_code == 202, "e-2 was refused, so it was not remembered either"
