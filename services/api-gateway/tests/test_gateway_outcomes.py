"""/v1/outcomes and /v1/contact-resolution through the gateway, answered by scoring's real
app over HTTP (its routes, its internal token check, its SQL) on the suite's Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest
from cxloop_devstack.serving import serving
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from cxloop_scoring.handlers import ScoringHandler, TouchpointHandler
from cxloop_scoring.settings import Settings as ScoringSettings
from cxloop_scoring.tables import outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import (
    Customer,
    CxEvent,
    ResponseRecorded,
    Touchpoint,
    TouchpointReceived,
)
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from cxloop_shared.topics import RESPONSES, TOUCHPOINTS
from gateway_reads_support import scoring_reads_app
from gateway_support import INTERNAL_TOKEN, NewWorkspace, bearer, issue_key
from pydantic import SecretStr

A = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
_offsets = count()


@pytest.fixture(scope="module")
def scoring_url(database_url: str) -> Iterator[str]:
    """Scoring's app, every route of it, served over HTTP (without its consumers)."""
    settings = ScoringSettings(database_url=database_url, internal_token=SecretStr(INTERNAL_TOKEN))
    with serving(scoring_reads_app(settings)) as url:
        yield url


@pytest.fixture
async def via_scoring(settings: Settings, scoring_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose scoring is the real one."""
    app = create_app(settings.model_copy(update={"scoring_url": scoring_url}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        yield client


@pytest.fixture
async def handle(database_url: str) -> AsyncIterator[Any]:
    """Hand events to scoring's batch handlers, as its consumers do."""
    engine = create_engine(database_url, pool_size=2)
    sessions = session_factory(engine)
    touchpoints = TouchpointHandler(sessions=sessions)
    answers = ScoringHandler(
        sessions=sessions,
        configs=ConfigCache(sessions, ttl=0),
        outbox=Outbox(outbox, source="tests"),
    )

    def delivered(events: Sequence[CxEvent], topic: str) -> list[Delivery]:
        return [Delivery(topic, 0, next(_offsets), event, []) for event in events]

    async def handle_events(events: Sequence[CxEvent]) -> None:
        received = [event for event in events if isinstance(event, TouchpointReceived)]
        others = [event for event in events if not isinstance(event, TouchpointReceived)]
        await touchpoints(delivered(received, TOUCHPOINTS))
        await answers(delivered(others, RESPONSES))

    yield handle_events
    await engine.dispose()


def answer(workspace_id: str, customer: str, score: int) -> ResponseRecorded:
    return ResponseRecorded(
        workspace_id=workspace_id,
        response_id=f"r-{customer}",
        customer_id=customer,
        touchpoint="checkout",
        metric="nps",
        score=score,
        answered_at=A,
        collected_via="link",
    )


def happened(
    workspace_id: str,
    event_id: str,
    customer: str,
    touchpoint: str,
    at: datetime,
    **attributes: Any,
) -> TouchpointReceived:
    return TouchpointReceived(
        workspace_id=workspace_id,
        source="shop",
        received_at=at,
        event=Touchpoint(
            id=event_id,
            touchpoint=touchpoint,
            occurred_at=at,
            customer=Customer(id=customer),
            attributes=attributes,
        ),
    )


async def test_outcomes_and_contact_resolution_through_the_gateway(
    gateway: httpx.AsyncClient, via_scoring: httpx.AsyncClient, workspace: NewWorkspace, handle: Any
) -> None:
    w = workspace.id
    await handle(
        [
            *(answer(w, f"p{i}", 10) for i in range(5)),
            answer(w, "d0", 0),
            *(happened(w, f"o{i}", f"p{i}", "checkout", A + DAY, order_value=10) for i in range(3)),
            happened(w, "t1", "p0", "ticket_closed", A, queue="billing"),
            happened(w, "t2", "p0", "call_ended", A + 2 * DAY, queue="billing"),
            happened(w, "t3", "p1", "ticket_closed", A, queue="tech"),
        ]
    )
    reader = bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])
    window = {"from": (A - DAY).isoformat(), "to": (A + DAY).isoformat()}

    outcomes = await via_scoring.get(
        "/v1/outcomes",
        params={
            "metric": "nps",
            "return_touchpoint": "checkout",
            "days": "30",
            "workspace_id": "someone-else",
            **window,
        },
        headers=reader,
    )
    assert outcomes.status_code == 200, outcomes.text
    report = outcomes.json()
    assert report["workspace_id"] == w, "never the caller's own choice"
    promoters, _, detractors = report["bands"]
    assert (promoters["customers"], promoters["returned"], promoters["revenue"]) == (5, 3, 30.0)
    assert (promoters["return_rate"], promoters["revenue_per_customer"]) == (60.0, 6.0)
    assert (detractors["customers"], detractors["return_rate"]) == (1, None)

    resolution = await via_scoring.get(
        "/v1/contact-resolution",
        params=[
            ("touchpoint", "ticket_closed"),
            ("touchpoint", "call_ended"),
            ("group_by", "queue"),
            *window.items(),
        ],
        headers=reader,
    )
    assert resolution.status_code == 200, resolution.text
    body = resolution.json()
    assert body["touchpoints"] == ["ticket_closed", "call_ended"]
    assert body["days"] == 7
    assert [
        (g["value"], g["observed"]["contacts"], g["observed"]["resolved"]) for g in body["groups"]
    ] == [("billing", 1, 0), ("tech", 1, 1)]


async def test_scorings_422_passes_through_and_the_gateway_checks_its_own(
    via_scoring: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    late = await via_scoring.get(
        "/v1/contact-resolution",
        params={"touchpoint": "ticket_closed", "from": "2099-01-01T00:00:00Z"},
        headers=workspace.admin,
    )
    assert late.status_code == 422
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["detail"].startswith("to: ")
    too_long = await via_scoring.get(
        "/v1/outcomes",
        params={"metric": "nps", "return_touchpoint": "checkout", "days": "366"},
        headers=workspace.admin,
    )
    assert too_long.status_code == 422
    assert "query.days" in too_long.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/outcomes", {"metric": "nps", "return_touchpoint": "checkout"}),
        ("/v1/contact-resolution", {"touchpoint": "ticket_closed"}),
    ],
)
async def test_outcomes_need_the_metrics_scope(
    gateway: httpx.AsyncClient,
    via_scoring: httpx.AsyncClient,
    workspace: NewWorkspace,
    path: str,
    params: dict[str, str],
) -> None:
    writer = bearer((await issue_key(gateway, workspace, "events:write"))["key"])
    answer = await via_scoring.get(path, params=params, headers=writer)
    assert answer.status_code == 403
    assert "'metrics:read'" in answer.json()["detail"]
    assert (await via_scoring.get(path, params=params)).status_code == 401
