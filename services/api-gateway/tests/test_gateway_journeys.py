"""GET /v1/journeys/{key}/map (and /v1/metrics?compare=previous) through the gateway to
scoring's real internal API, both over HTTP against the suite's Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from cxloop_devstack.serving import serving
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from cxloop_scoring.endpoints import router as scoring_router
from cxloop_scoring.settings import Settings as ScoringSettings
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.http import install_error_handlers
from fastapi import FastAPI
from gateway_support import ADMIN, INTERNAL_TOKEN, NewWorkspace, bearer, issue_key
from pydantic import SecretStr
from sqlalchemy import text

WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


def scoring_app(database_url: str) -> FastAPI:
    """Scoring's internal read API, without its consumers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(database_url, pool_size=2)
        app.state.sessions = session_factory(engine)
        app.state.configs = ConfigCache(app.state.sessions, ttl=0)
        app.state.settings = ScoringSettings(internal_token=SecretStr(INTERNAL_TOKEN))
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(scoring_router)
    return app


@pytest.fixture(scope="module")
def scoring_url(database_url: str) -> Iterator[str]:
    with serving(scoring_app(database_url)) as url:
        yield url


@pytest.fixture(scope="module")
async def gateway_to_scoring(
    settings: Settings, scoring_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"scoring_url": scoring_url}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        yield client


def configuration(workspace_id: str, journey: str = "buy_and_use") -> dict[str, Any]:
    survey = {"metric": "nps", "question": {"en": "Would you recommend us?"}}
    return {
        "workspace": workspace_id,
        "timezone": "Asia/Kathmandu",
        "touchpoints": {
            "checkout": {
                "stage": "purchase",
                "survey": "nps",
                "policy": {"channels": ["preferred"]},
            },
            "order_delivered": {
                "stage": "use",
                "survey": "nps",
                "policy": {"channels": ["preferred"]},
            },
        },
        "surveys": {"nps": survey},
        "journeys": {
            journey: {
                "stages": ["awareness", "purchase", "use"],
                "thresholds": {"nps": {"green": 30, "red": 0}},
            }
        },
        "settings": {"min_n": 2},
    }


async def answers(
    database_url: str, workspace_id: str, touchpoint: str, *, at: str, counts: list[int]
) -> None:
    """A rollup row, as scoring's consumer leaves it."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "insert into scoring.rollups (workspace_id, touchpoint, metric, channel,"
                    " persona, bucket, counts) values (:w, :t, 'nps', 'web', '', :at, :c)"
                ),
                {"w": workspace_id, "t": touchpoint, "at": datetime.fromisoformat(at), "c": counts},
            )
    finally:
        await engine.dispose()


async def configured(gateway: httpx.AsyncClient, workspace: NewWorkspace, **fields: Any) -> None:
    answer = await gateway.put(
        "/v1/config", json=configuration(workspace.id, **fields), headers=workspace.admin
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture
async def reader(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, database_url: str
) -> dict[str, str]:
    """A metrics:read key of a workspace with a configured journey and some answers."""
    await configured(gateway, workspace)
    # checkout: 3 promoters, NPS 100 (green); order_delivered: one answer (n below 2: grey).
    await answers(
        database_url, workspace.id, "checkout", at="2026-11-10T10:00:00Z", counts=[0] * 10 + [3]
    )
    await answers(
        database_url,
        workspace.id,
        "order_delivered",
        at="2026-11-10T10:00:00Z",
        counts=[1] + [0] * 10,
    )
    return bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])


async def test_the_journey_map_of_the_callers_workspace(
    gateway_to_scoring: httpx.AsyncClient, workspace: NewWorkspace, reader: dict[str, str]
) -> None:
    answer = await gateway_to_scoring.get(
        "/v1/journeys/buy_and_use/map",
        params={**WINDOW, "workspace_id": "someone-else"},
        headers=reader,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert list(body) == ["journey", "from", "to", "timezone", "min_n", "stages"]
    assert (body["journey"], body["timezone"], body["min_n"]) == (
        "buy_and_use",
        "Asia/Kathmandu",
        2,
    )
    assert (body["from"], body["to"]) == (WINDOW["from"], WINDOW["to"])
    awareness, purchase, use = body["stages"]
    assert (awareness["stage"], awareness["status"], awareness["touchpoints"]) == (
        "awareness",
        "grey",
        [],
    )
    (checkout,) = purchase["touchpoints"]
    assert checkout["touchpoint"] == "checkout"
    assert (checkout["metric"], checkout["status"], checkout["statuses"]) == (
        "nps",
        "green",
        {"nps": "green"},
    )
    assert (checkout["values"][0]["n"], checkout["values"][0]["score"]) == (3, 100.0)
    assert (purchase["status"], purchase["statuses"], purchase["values"][0]["n"]) == (
        "green",
        {"nps": "green"},
        3,
    )
    (delivered,) = use["touchpoints"]
    assert (delivered["status"], delivered["values"][0]["score"], use["status"]) == (
        "grey",
        None,
        "grey",
    )


async def test_another_workspaces_journey_is_not_found(
    gateway: httpx.AsyncClient,
    gateway_to_scoring: httpx.AsyncClient,
    workspace: NewWorkspace,
    reader: dict[str, str],
) -> None:
    created = await gateway.post("/v1/workspaces", json={"id": f"{workspace.id}-b"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    other = NewWorkspace(f"{workspace.id}-b", created.json()["admin_key"]["key"])
    await configured(gateway, other, journey="secret")

    answer = await gateway_to_scoring.get(
        "/v1/journeys/secret/map", params={"workspace_id": other.id}, headers=reader
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == f"no journey 'secret' in workspace {workspace.id}"


async def test_the_journey_map_needs_the_metrics_scope(
    gateway_to_scoring: httpx.AsyncClient, gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    writer = bearer((await issue_key(gateway, workspace, "events:write"))["key"])
    answer = await gateway_to_scoring.get("/v1/journeys/buy_and_use/map", headers=writer)
    assert answer.status_code == 403
    assert "'metrics:read'" in answer.json()["detail"]
    assert (await gateway_to_scoring.get("/v1/journeys/buy_and_use/map")).status_code == 401


async def test_a_bad_window_is_a_422_problem(
    gateway_to_scoring: httpx.AsyncClient, reader: dict[str, str]
) -> None:
    answer = await gateway_to_scoring.get(
        "/v1/journeys/buy_and_use/map",
        params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        headers=reader,
    )
    assert answer.status_code == 422
    assert "must be after" in answer.json()["detail"]


async def test_metrics_compare_with_the_previous_window(
    gateway_to_scoring: httpx.AsyncClient,
    workspace: NewWorkspace,
    reader: dict[str, str],
    database_url: str,
) -> None:
    # The week before: 2 detractors (NPS -100); this week, checkout's 3 promoters (NPS 100).
    await answers(
        database_url, workspace.id, "checkout", at="2026-11-03T10:00:00Z", counts=[2] + [0] * 10
    )
    params = {
        "from": "2026-11-07T00:00:00Z",
        "to": "2026-11-14T00:00:00Z",
        "touchpoint": "checkout",
    }
    answer = await gateway_to_scoring.get(
        "/v1/metrics", params={**params, "compare": "previous"}, headers=reader
    )
    assert answer.status_code == 200, answer.text
    comparison = answer.json()["comparison"]
    assert (comparison["from"], comparison["to"]) == (
        "2026-10-31T00:00:00Z",
        "2026-11-07T00:00:00Z",
    )
    assert [(v["n"], v["score"]) for v in comparison["values"]] == [(2, -100.0)]
    (change,) = comparison["changes"]
    # Both sides are unanimous: standard errors 0, so any change is significant.
    assert change == {
        "metric": "nps",
        "previous_score": -100.0,
        "score": 100.0,
        "change": 200.0,
        "standard_error": 0.0,
        "significant": True,
        "reason": None,
    }
    plain = await gateway_to_scoring.get("/v1/metrics", params=params, headers=reader)
    assert plain.json()["comparison"] is None
    wrong = await gateway_to_scoring.get("/v1/metrics", params={"compare": "next"}, headers=reader)
    assert wrong.status_code == 422
