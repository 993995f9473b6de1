"""Erasure in scoring against the real Postgres, fed by the real handlers: the customer's
personal data leaves every table, the rollups stay byte for byte, a redelivery changes
nothing, and the timeline the gateway reads no longer finds the customer."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cxloop_scoring.customer_reads import router
from cxloop_scoring.erasure import ErasureHandler
from cxloop_scoring.settings import Settings
from cxloop_shared.config import ConfigCache
from cxloop_shared.customers import ScoringTimeline
from cxloop_shared.http import install_error_handlers
from cxloop_shared.kafka import Delivery
from fastapi import FastAPI
from pydantic import SecretStr
from scoring_erasure_support import erasure, rows, text_holding
from scoring_support import BEARER, DETRACTORS, INTERNAL_TOKEN, T0, invitation, response, touchpoint
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

EMAIL = "ana.erased@example.com"
ATTRIBUTES = {"agent": "Kim", "buyer": EMAIL, "order_value": 120.5, "gift": True}
ROLLUP_TABLES = ("rollups", "sent_rollups", "invitations_sent")


@pytest.fixture
def erase(sessions: async_sessionmaker[AsyncSession]) -> Any:
    handler = ErasureHandler(sessions=sessions)

    async def apply(*deliveries: Delivery) -> None:
        await handler(list(deliveries))

    return apply


@pytest.fixture
async def timeline_api(
    sessions: async_sessionmaker[AsyncSession], configs: ConfigCache
) -> AsyncIterator[httpx.AsyncClient]:
    """Scoring's customer routes on a bare app: no lifespan, so no Kafka consumer."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings = Settings(internal_token=SecretStr(INTERNAL_TOKEN))
    app.state.sessions = sessions
    app.state.configs = configs
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        yield client


async def timeline(
    api: httpx.AsyncClient, workspace_id: str, customer_id: str = "c-1"
) -> ScoringTimeline:
    answer = await api.get(
        f"/internal/v1/customers/{customer_id}/timeline",
        params={"workspace_id": workspace_id},
        headers=BEARER,
    )
    assert answer.status_code == 200, answer.text
    return ScoringTimeline.model_validate_json(answer.content)


async def answered_with_an_alert(
    handle: Any, configure: Any, workspace_id: str, comment: str
) -> uuid.UUID:
    """c-1's touchpoint with attributes, an invitation sent for it, a detractor answer
    with a comment revised once, an alert, and webhooks about all of it; and c-2's answer."""
    hook = {"url": "http://127.0.0.1:9/hooks", "secret": "whsec_dGVzdA==", "events": ["*"]}
    await configure(
        workspace_id,
        alerts=[{"when": DETRACTORS, "notify": ["crm"]}],
        endpoints={"crm": hook},
    )
    invited = uuid.uuid4()
    await handle([touchpoint(workspace_id, "ord-7", ATTRIBUTES)])
    await handle([invitation(workspace_id, invited, event_id="ord-7")])
    first = response(
        workspace_id, str(invited), 4, customer_id="c-1", invitation_id=invited, comment=comment
    )
    revised = response(
        workspace_id,
        str(invited),
        2,
        customer_id="c-1",
        invitation_id=invited,
        comment=f"{comment} (revised)",
        revision=2,
        answered_at=T0 + timedelta(minutes=3),
    )
    other = response(workspace_id, "r-other", 9, customer_id="c-2", comment="all good")
    await handle([first])
    await handle([revised, other])
    return invited


async def test_erasure_removes_the_customers_personal_data_and_moves_no_count(
    handle: Any, configure: Any, erase: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    comment = f"Nobody called back about the order, {workspace_id}"
    await answered_with_an_alert(handle, configure, workspace_id, comment)
    async with engine.begin() as connection:  # one webhook already went out
        await connection.execute(
            text(
                "update scoring.webhook_deliveries set status = 'delivered', finished_at = now()"
                " where workspace_id = :w and event_type = 'alert.created'"
            ),
            {"w": workspace_id},
        )
    counts_before = {table: await rows(engine, table, workspace_id) for table in ROLLUP_TABLES}
    assert await text_holding(engine, comment), "the comment is there before erasure"
    assert counts_before["rollups"], "the answers are counted"

    await erase(erasure(workspace_id))

    for table in ROLLUP_TABLES:
        assert await rows(engine, table, workspace_id) == counts_before[table], table
    assert await text_holding(engine, comment) == []
    assert await text_holding(engine, EMAIL) == []
    answers = await rows(engine, "answers", workspace_id)
    revisions = await rows(engine, "answer_revisions", workspace_id)
    mine = [a for a in answers if a["customer_id"] != "c-2"]
    (stand_in,) = {a["customer_id"] for a in mine + [r for r in revisions if r["score"] != 9]}
    assert stand_in.startswith("erased:")
    assert all(a["comment"] is None for a in mine)
    assert [(a["score"], a["revision"]) for a in mine] == [(2, 2)], "scores and revisions stay"
    assert [a["comment"] for a in answers if a["customer_id"] == "c-2"] == ["all good"]
    (alert,) = await rows(engine, "alerts", workspace_id)
    assert (alert["customer_id"], alert["comment"], alert["note"]) == (stand_in, None, None)
    assert alert["context"] == {"agent": "Kim", "order_value": 120.5, "gift": True}
    assert (alert["score"], alert["state"]) == (4, "open"), "the alert still counts"
    (context,) = await rows(engine, "touchpoint_contexts", workspace_id)
    assert (context["customer_id"], context["attributes"]) == (stand_in, alert["context"])
    deliveries = await rows(engine, "webhook_deliveries", workspace_id)
    about_c1 = [d for d in deliveries if json.loads(d["body"])["data"]["customer_id"] != "c-2"]
    assert {json.loads(d["body"])["data"]["customer_id"] for d in about_c1} == {stand_in}
    assert {(d["event_type"], d["status"]) for d in about_c1} == {
        ("alert.created", "delivered"),
        ("survey.responded", "failed"),
        ("invitation.sent", "failed"),
    }, "what went out stays in the log; what did not is never sent"
    assert all(
        d["last_error"] == "customer erased before delivery"
        for d in about_c1
        if d["status"] == "failed"
    )
    assert any(d["status"] == "pending" for d in deliveries), "c-2's webhooks still go out"
    for delivery in about_c1:
        assert comment not in delivery["body"]
        assert EMAIL not in delivery["body"]
        assert '"c-1"' not in delivery["body"]


async def test_a_redelivered_erasure_changes_nothing(
    handle: Any, configure: Any, erase: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await answered_with_an_alert(handle, configure, workspace_id, "twice")
    tables = (*ROLLUP_TABLES, "answers", "answer_revisions", "alerts", "touchpoint_contexts")
    await erase(erasure(workspace_id), erasure(workspace_id))  # twice in one batch, too
    once = {table: await rows(engine, table, workspace_id) for table in tables}
    deliveries = [
        {k: v for k, v in d.items() if k != "finished_at"}
        for d in await rows(engine, "webhook_deliveries", workspace_id)
    ]

    await erase(erasure(workspace_id))

    assert {table: await rows(engine, table, workspace_id) for table in tables} == once
    assert [
        {k: v for k, v in d.items() if k != "finished_at"}
        for d in await rows(engine, "webhook_deliveries", workspace_id)
    ] == deliveries


async def test_consent_changes_and_other_workspaces_are_left_alone(
    handle: Any, configure: Any, erase: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await answered_with_an_alert(handle, configure, workspace_id, "stays")
    before = await rows(engine, "answers", workspace_id)

    await erase(erasure(workspace_id, change="opt_out"), erasure(f"{workspace_id}-other"))

    assert await rows(engine, "answers", workspace_id) == before


async def test_the_timeline_shows_touchpoints_and_answers_until_erasure(
    handle: Any,
    configure: Any,
    erase: Any,
    timeline_api: httpx.AsyncClient,
    workspace_id: str,
) -> None:
    invited = await answered_with_an_alert(handle, configure, workspace_id, "slow delivery")

    seen = await timeline(timeline_api, workspace_id)

    assert [(t.event_id, t.attributes) for t in seen.touchpoints] == [("ord-7", ATTRIBUTES)]
    ((answer),) = seen.answers
    assert (answer.invitation_id, answer.score, answer.revision) == (invited, 2, 2)
    assert answer.comment == "slow delivery (revised)"
    elsewhere = await timeline(timeline_api, f"{workspace_id}-other")
    assert (elsewhere.touchpoints, elsewhere.answers) == ([], [])

    await erase(erasure(workspace_id))

    gone = await timeline(timeline_api, workspace_id)
    assert (gone.touchpoints, gone.answers) == ([], [])


async def test_the_timeline_is_capped_and_wants_the_internal_token(
    handle: Any, timeline_api: httpx.AsyncClient, workspace_id: str
) -> None:
    answers: Sequence[Any] = [
        response(workspace_id, f"r-{n}", 7, customer_id="c-1", answered_at=T0 + timedelta(hours=n))
        for n in range(3)
    ]
    await handle(answers)
    params: dict[str, str | int] = {"workspace_id": workspace_id, "limit": 2}

    capped = await timeline_api.get(
        "/internal/v1/customers/c-1/timeline", params=params, headers=BEARER
    )
    anonymous = await timeline_api.get("/internal/v1/customers/c-1/timeline", params=params)

    seen = ScoringTimeline.model_validate_json(capped.content)
    assert [a.response_id for a in seen.answers] == ["r-2", "r-1"]
    assert seen.truncated is True
    assert anonymous.status_code == 401
