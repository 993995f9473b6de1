"""Helpers of the business-outcome tests: scoring's outcome routes on a bare app, and
reading a report through them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from cxloop_scoring.endpoints import router
from cxloop_scoring.outcome_endpoints import router as outcome_router
from cxloop_scoring.settings import Settings
from cxloop_shared.config import ConfigCache
from cxloop_shared.http import install_error_handlers
from fastapi import FastAPI
from pydantic import SecretStr
from scoring_support import BEARER, INTERNAL_TOKEN
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def outcome_app(sessions: async_sessionmaker[AsyncSession], configs: ConfigCache) -> FastAPI:
    """Scoring's internal routes, outcome routes included, without the lifespan (no Kafka)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(outcome_router)
    app.state.settings = Settings(internal_token=SecretStr(INTERNAL_TOKEN))
    app.state.sessions = sessions
    app.state.configs = configs
    return app


async def read(
    api: httpx.AsyncClient, path: str, params: Mapping[str, str] | list[tuple[str, str]]
) -> dict[str, Any]:
    """GET an internal outcome route (repeated parameters as a list) and return the 200 body."""
    query = params if isinstance(params, Mapping) else tuple(params)
    answer = await api.get(path, params=query, headers=BEARER)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def by_band(report: dict[str, Any]) -> dict[str, tuple[int, int, int, float]]:
    """Each band's (customers, censored, returned, revenue)."""
    return {
        band["band"]: (band["customers"], band["censored"], band["returned"], band["revenue"])
        for band in report["bands"]
    }
