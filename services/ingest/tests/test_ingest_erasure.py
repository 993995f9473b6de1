"""Erasure in ingest against the real Postgres and Kafka: the customer's sent invitations
are forgotten with the comments of their answers (posted with or without an invitation);
scores and other customers stay. And it holds: an answer arriving later is recorded and
published without its comment, an invitation sent later is not remembered, and an
erasure waits for an answer in flight and then forgets it too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cxloop_ingest import repository, service
from cxloop_ingest.erasure import ErasureHandler
from cxloop_ingest.replies import InvitationHandler
from cxloop_ingest.tables import outbox
from cxloop_shared import topics
from cxloop_shared.cloudevents import encode
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory, transaction
from cxloop_shared.erasure import customer_digest
from cxloop_shared.events import CustomerChanged, InvitationChanged, ResponseRecorded
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from fastapi import FastAPI
from ingest_support import KafkaTap, Workspace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    made: async_sessionmaker[AsyncSession] = session_factory(engine)
    return made


def erasure(workspace_id: str, customer_id: str, change: str = "erasure") -> CustomerChanged:
    return CustomerChanged(
        workspace_id=workspace_id,
        customer_id=customer_id,
        change=change,
        channel=None if change == "erasure" else "sms",
        changed_at=NOW,
    )


async def sent_and_answered(
    sessions: async_sessionmaker[AsyncSession], workspace_id: str, customer_id: str, comment: str
) -> uuid.UUID:
    """An invitation sent to the customer by SMS and their answer to it, with a comment."""
    invitation_id = uuid.uuid4()
    async with transaction(sessions) as session:
        await repository.save_sent_invitation(
            session,
            {
                "workspace_id": workspace_id,
                "invitation_id": invitation_id,
                "address_digest": "ab" * 32,
                "customer_id": customer_id,
                "touchpoint": "checkout",
                "survey": "csat",
                "metric": "csat",
                "channel": "sms",
                "sent_at": NOW - timedelta(hours=1),
                "answer_until": NOW + timedelta(days=6),
            },
        )
        await session.execute(
            text(
                "insert into ingest.answers (workspace_id, response_id, invitation_id, revision,"
                " score, comment, answered_at) values (:w, :r, :i, 1, 2, :c, now())"
            ),
            {"w": workspace_id, "r": str(invitation_id), "i": invitation_id, "c": comment},
        )
    return invitation_id


async def kept(engine: AsyncEngine, workspace_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        sent = await connection.execute(
            text(
                "select customer_id from ingest.sent_invitations where workspace_id = :w"
                " order by customer_id"
            ),
            {"w": workspace_id},
        )
        answers = await connection.execute(
            text(
                "select score, comment from ingest.answers where workspace_id = :w"
                " order by score, comment"
            ),
            {"w": workspace_id},
        )
        return {"sent": [r[0] for r in sent], "answers": [tuple(r) for r in answers]}


async def test_erasure_forgets_the_customers_invitations_and_comments_only(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, workspace_id: str
) -> None:
    await sent_and_answered(sessions, workspace_id, "c-1", "call me on +14155550123")
    await sent_and_answered(sessions, workspace_id, "c-2", "fine")
    handler = ErasureHandler(sessions=sessions)
    batch = [
        erasure(workspace_id, "c-1"),
        erasure(workspace_id, "c-2", change="opt_out"),
        erasure(f"{workspace_id}-other", "c-2"),
    ]

    await handler([Delivery("cx.customers", 0, n, event, []) for n, event in enumerate(batch)])

    after = await kept(engine, workspace_id)
    assert after == {"sent": ["c-2"], "answers": [(2, "fine"), (2, None)]}, "scores stay"
    await handler([Delivery("cx.customers", 0, 9, erasure(workspace_id, "c-1"), [])])
    assert await kept(engine, workspace_id) == after, "a redelivery changes nothing"


async def test_ingest_applies_an_erasure_published_on_cx_customers(
    ingest_app: FastAPI, kafka_bootstrap: str, engine: AsyncEngine, workspace_id: str
) -> None:
    await sent_and_answered(ingest_app.state.sessions, workspace_id, "c-9", "secret words")
    record = encode(erasure(workspace_id, "c-9"), topic=topics.CUSTOMERS, source="tests")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()

    async with asyncio.timeout(30):
        while (await kept(engine, workspace_id))["sent"]:  # noqa: ASYNC110 (another service)
            await asyncio.sleep(0.1)
    assert (await kept(engine, workspace_id))["answers"] == [(2, None)]


async def erase(sessions: async_sessionmaker[AsyncSession], *events: CustomerChanged) -> None:
    handler = ErasureHandler(sessions=sessions)
    await handler([Delivery("cx.customers", 0, n, event, []) for n, event in enumerate(events)])


async def stored_answers(engine: AsyncEngine, workspace_id: str) -> dict[str, tuple[Any, ...]]:
    """Each answer's (revision, score, comment, customer_id), by response id."""
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "select response_id, revision, score, comment, customer_id from ingest.answers"
                " where workspace_id = :w"
            ),
            {"w": workspace_id},
        )
        return {row[0]: tuple(row[1:]) for row in found}


def api_answer(response_id: str, customer_id: str, comment: str) -> dict[str, object]:
    return {
        "id": response_id,
        "touchpoint": "ticket_closed",
        "customer_id": customer_id,
        "score": 2,
        "comment": comment,
    }


async def test_erasure_drops_the_comments_of_answers_posted_without_an_invitation(
    ingest: httpx.AsyncClient, ingest_app: FastAPI, workspace: Workspace, engine: AsyncEngine
) -> None:
    auth = workspace.auth(workspace.responses_key)
    for response_id, customer_id in (("ivr-1", "c-api"), ("ivr-2", "c-kept")):
        posted = await ingest.post(
            "/v1/responses", json=api_answer(response_id, customer_id, "ring me"), headers=auth
        )
        assert posted.status_code == 202, posted.text
    assert (await stored_answers(engine, workspace.id))["ivr-1"] == (1, 2, "ring me", "c-api")

    await erase(ingest_app.state.sessions, erasure(workspace.id, "c-api"))

    assert await stored_answers(engine, workspace.id) == {
        "ivr-1": (1, 2, None, None),
        "ivr-2": (1, 2, "ring me", "c-kept"),
    }


async def test_a_late_answer_counts_but_keeps_no_comment_here_or_on_kafka(
    ingest: httpx.AsyncClient,
    ingest_app: FastAPI,
    workspace: Workspace,
    engine: AsyncEngine,
    tap: KafkaTap,
) -> None:
    auth = workspace.auth(workspace.responses_key)
    await erase(ingest_app.state.sessions, erasure(workspace.id, "c-gone"))
    async with engine.connect() as connection:
        remembered = await connection.scalar(
            text("select customer_digest from ingest.erased_customers where workspace_id = :w"),
            {"w": workspace.id},
        )
    assert remembered == customer_digest(workspace.id, "c-gone")

    late = await ingest.post(
        "/v1/responses", json=api_answer("ivr-late", "c-gone", "it's me, Ana"), headers=auth
    )
    again = await ingest.post(
        "/v1/responses", json=api_answer("ivr-late", "c-gone", "still me"), headers=auth
    )

    assert (late.status_code, again.status_code) == (202, 200), "the same answer, no revision"
    assert await stored_answers(engine, workspace.id) == {"ivr-late": (1, 2, None, None)}
    published = [
        r
        for r in await tap.published(topics.RESPONSES, workspace.id)
        if isinstance(r, ResponseRecorded)
    ]
    assert [(r.customer_id, r.score, r.comment) for r in published] == [("c-gone", 2, None)]


async def test_an_invitation_sent_to_an_erased_customer_is_not_remembered(
    ingest_app: FastAPI, workspace: Workspace, engine: AsyncEngine
) -> None:
    sessions = ingest_app.state.sessions
    await erase(sessions, erasure(workspace.id, "c-gone"))
    handler = InvitationHandler(sessions=sessions, configs=ConfigCache(sessions, ttl=0))
    sent = [
        InvitationChanged(
            workspace_id=workspace.id,
            invitation_id=uuid.uuid4(),
            event_id=f"ord-{customer_id}",
            source="shop",
            touchpoint="checkout",
            customer_id=customer_id,
            status="sent",
            survey="csat",
            metric="csat",
            channel="sms",
            address_digest="cd" * 32,
            changed_at=NOW,
        )
        for customer_id in ("c-gone", "c-kept")
    ]

    await handler([Delivery("cx.invitations", 0, n, event, []) for n, event in enumerate(sent)])

    assert (await kept(engine, workspace.id))["sent"] == ["c-kept"]


async def test_an_erasure_waits_for_an_answer_in_flight_then_forgets_its_comment(
    ingest_app: FastAPI, workspace: Workspace, engine: AsyncEngine
) -> None:
    sessions = ingest_app.state.sessions
    asked = service.Asked(
        workspace_id=workspace.id,
        customer_id="c-race",
        touchpoint="ticket_closed",
        survey="csat",
        metric="csat",
    )
    async with transaction(sessions) as session:
        await service.record_answer(
            session,
            outbox=Outbox(outbox, source="tests"),
            asked=asked,
            response_id="ivr-race",
            score=1,
            comment="in flight",
            via="api",
            answered_at=NOW,
        )
        erasing = asyncio.create_task(erase(sessions, erasure(workspace.id, "c-race")))
        async with asyncio.timeout(30):
            while not await waiting_for_a_lock(engine):  # noqa: ASYNC110 (another session)
                await asyncio.sleep(0.05)
        assert not erasing.done()
    await erasing

    assert await stored_answers(engine, workspace.id) == {"ivr-race": (1, 1, None, None)}


async def waiting_for_a_lock(engine: AsyncEngine) -> bool:
    """Whether some session of this database waits for an advisory lock right now."""
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and wait_event_type = 'Lock' and wait_event = 'advisory'"
            )
        )
        return bool(waiting)
