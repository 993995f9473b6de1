"""Erasure holds against late data, against the real Postgres and the real handlers: an
answer, a touchpoint or an invitation of a customer consumed after their erasure is
stored under the erasure's pseudonym without anything personal, still counts in the
rollups, and raises no alert and queues no webhook; an erasure and a batch about the
same customer in flight at once wait for each other, whichever started first."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from cxloop_scoring import erasure as scoring_erasure
from cxloop_scoring.erasure import ErasureHandler
from cxloop_scoring.handlers import record_answers
from cxloop_scoring.rollups import Answer
from cxloop_shared.db import transaction
from cxloop_shared.erasure import customer_digest
from cxloop_shared.events import utcnow
from cxloop_shared.kafka import Delivery
from scoring_erasure_support import erasure, rows, text_holding, waiting_for_a_lock
from scoring_support import DETRACTORS, T0, invitation, response, touchpoint
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

EMAIL = "late.erased@example.com"


@pytest.fixture
def erase(sessions: async_sessionmaker[AsyncSession]) -> Any:
    handler = ErasureHandler(sessions=sessions)

    async def apply(*deliveries: Delivery) -> None:
        await handler(list(deliveries))

    return apply


def answered(rollups: list[dict[str, Any]]) -> int:
    return sum(sum(row["counts"]) for row in rollups)


async def pseudonym_of(engine: AsyncEngine, workspace_id: str, customer_id: str) -> str:
    (erased,) = await rows(engine, "erased_customers", workspace_id)
    assert erased["customer_digest"] == customer_digest(workspace_id, customer_id)
    return str(erased["pseudonym"])


async def test_late_answers_touchpoints_and_invitations_are_stored_as_erased_and_count(
    handle: Any, configure: Any, erase: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    customer = f"c-late-{workspace_id}"
    hook = {"url": "http://127.0.0.1:9/hooks", "secret": "whsec_dGVzdA==", "events": ["*"]}
    await configure(
        workspace_id, alerts=[{"when": DETRACTORS, "notify": ["crm"]}], endpoints={"crm": hook}
    )
    first, late = uuid.uuid4(), uuid.uuid4()
    await handle([touchpoint(workspace_id, "ord-1", {"order_value": 10}, customer_id=customer)])
    await handle([invitation(workspace_id, first, event_id="ord-1", customer_id=customer)])
    await handle(
        [response(workspace_id, "r-1", 9, customer_id=customer, invitation_id=first, comment="ok")]
    )
    await erase(erasure(workspace_id, customer))
    stand_in = await pseudonym_of(engine, workspace_id, customer)
    already = {d["id"] for d in await rows(engine, "webhook_deliveries", workspace_id)}
    assert answered(await rows(engine, "rollups", workspace_id)) == 1

    attributes = {"order_value": 99.5, "buyer_email": EMAIL, "queue": "returns"}
    await handle(
        [touchpoint(workspace_id, "ord-2", attributes, customer_id=customer, channel="phone")]
    )
    await handle([invitation(workspace_id, late, event_id="ord-2", customer_id=customer)])
    await handle(
        [
            response(
                workspace_id,
                str(late),
                1,
                customer_id=customer,
                invitation_id=late,
                comment=f"Call me at {EMAIL}",
            ),
            response(
                workspace_id,
                "r-1",
                3,
                customer_id=customer,
                invitation_id=first,
                revision=2,
                comment="changed my mind",
                answered_at=T0 + timedelta(minutes=5),
            ),
            response(workspace_id, "r-api", 2, customer_id=customer, comment="no invitation"),
            response(workspace_id, "r-other", 0, customer_id="c-other", comment="still here"),
        ]
    )

    answers = await rows(engine, "answers", workspace_id)
    assert answered(await rows(engine, "rollups", workspace_id)) == len(answers) == 4
    mine = {a["response_id"]: a for a in answers if a["response_id"] != "r-other"}
    assert {(r, a["score"], a["customer_id"], a["comment"]) for r, a in mine.items()} == {
        ("r-1", 3, stand_in, None),
        (str(late), 1, stand_in, None),
        ("r-api", 2, stand_in, None),
    }, "the same pseudonym as the erasure's, no comment, and the score counts"
    revisions = await rows(engine, "answer_revisions", workspace_id)
    assert {(r["customer_id"], r["comment"]) for r in revisions if r["score"] != 0} == {
        (stand_in, None)
    }
    sent = await rows(engine, "sent_rollups", workspace_id)
    assert sum(row["sent"] for row in sent) == 2, "the late invitation counts as sent"
    contexts = {c["event_id"]: c for c in await rows(engine, "touchpoint_contexts", workspace_id)}
    assert (contexts["ord-2"]["customer_id"], contexts["ord-2"]["attributes"]) == (
        stand_in,
        {"order_value": 99.5, "queue": "returns"},
    )
    alerts = await rows(engine, "alerts", workspace_id)
    assert [a["response_id"] for a in alerts] == ["r-other"], "nobody follows up the erased"
    queued = [
        d for d in await rows(engine, "webhook_deliveries", workspace_id) if d["id"] not in already
    ]
    assert queued, "the other customer's alert and answer go out"
    assert {json.loads(d["body"])["data"]["customer_id"] for d in queued} == {"c-other"}
    for needle in (customer, EMAIL, "changed my mind", "no invitation"):
        assert await text_holding(engine, needle) == [], needle


async def test_a_redelivered_erasure_keeps_its_first_pseudonym(
    handle: Any, erase: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await handle([response(workspace_id, "r-1", 7, customer_id="c-1")])
    await erase(erasure(workspace_id))
    first = await pseudonym_of(engine, workspace_id, "c-1")

    await erase(erasure(workspace_id))
    await handle([response(workspace_id, "r-2", 8, customer_id="c-1", comment="late")])

    assert await pseudonym_of(engine, workspace_id, "c-1") == first
    assert {a["customer_id"] for a in await rows(engine, "answers", workspace_id)} == {first}


async def test_an_erasure_waits_for_a_batch_in_flight_then_rewrites_what_it_stored(
    sessions: async_sessionmaker[AsyncSession],
    erase: Any,
    engine: AsyncEngine,
    workspace_id: str,
) -> None:
    answer = Answer.from_event(
        response(workspace_id, "r-1", 4, customer_id="c-1", comment="in flight")
    )
    async with transaction(sessions) as session:
        assert await scoring_erasure.erased_among(session, {(workspace_id, "c-1")}) == {}
        await record_answers(session, [answer])
        erasing = asyncio.create_task(erase(erasure(workspace_id)))
        async with asyncio.timeout(30):
            while not await waiting_for_a_lock(engine):  # noqa: ASYNC110 (another session)
                await asyncio.sleep(0.05)
        assert not erasing.done()
    await erasing

    (stored,) = await rows(engine, "answers", workspace_id)
    assert (stored["customer_id"], stored["comment"]) == (
        await pseudonym_of(engine, workspace_id, "c-1"),
        None,
    )


async def test_a_batch_waits_for_an_erasure_in_flight_then_stores_as_erased(
    sessions: async_sessionmaker[AsyncSession],
    handle: Any,
    engine: AsyncEngine,
    workspace_id: str,
) -> None:
    async with transaction(sessions) as session:
        await scoring_erasure.erase_customer(
            session, workspace_id=workspace_id, customer_id="c-1", now=utcnow()
        )
        answering = asyncio.create_task(
            handle([response(workspace_id, "r-1", 4, customer_id="c-1", comment="racing")])
        )
        async with asyncio.timeout(30):
            while not await waiting_for_a_lock(engine):  # noqa: ASYNC110 (another session)
                await asyncio.sleep(0.05)
        assert not answering.done()
    await answering

    (stored,) = await rows(engine, "answers", workspace_id)
    assert (stored["customer_id"], stored["comment"]) == (
        await pseudonym_of(engine, workspace_id, "c-1"),
        None,
    )
