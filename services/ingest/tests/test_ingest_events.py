"""POST /v1/events: durable before 2xx, deduplicated, whole batches, order per customer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cxloop_ingest import repository
from cxloop_ingest.intake import GROUP_SIZE
from cxloop_ingest.tables import received_events
from cxloop_shared import topics
from cxloop_shared.events import TouchpointReceived
from fastapi import FastAPI
from ingest_support import SECRETS, KafkaTap, Workspace
from sqlalchemy import insert, select

NOW = datetime.now(UTC).replace(microsecond=0)


def event(event_id: str, customer: str = "c-1", **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "touchpoint": "checkout",
        "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
        "customer": {"id": customer, "email": f"{customer}@example.com"},
        "attributes": {"order_value": 120.5, "currency": "EUR"},
        **fields,
    }


def touchpoints(published: list[Any]) -> list[TouchpointReceived]:
    assert all(isinstance(e, TouchpointReceived) for e in published)
    return published


async def test_an_event_is_published_once_and_a_redelivery_is_a_duplicate(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    first = await ingest.post("/v1/events", json=event("ord-1"), headers=workspace.auth())
    again = await ingest.post("/v1/events", json=event("ord-1"), headers=workspace.auth())

    assert first.status_code == 202, first.text
    assert first.json() == {"accepted": 1, "duplicates": 0, "duplicate": False}
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    published = touchpoints(await tap.published(topics.TOUCHPOINTS, workspace.id))
    assert [(e.source, e.event.id) for e in published] == [("api", "ord-1")]
    assert published[0].event.attributes == {"order_value": 120.5, "currency": "EUR"}


async def test_a_batch_counts_an_id_repeated_inside_it_once(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    batch = {"events": [event("a"), event("b"), event("a")]}
    answer = await ingest.post("/v1/events", json=batch, headers=workspace.auth())

    assert answer.status_code == 202
    assert answer.json()["accepted"] == 2
    assert answer.json()["duplicates"] == 1
    published = touchpoints(await tap.published(topics.TOUCHPOINTS, workspace.id))
    assert sorted(e.event.id for e in published) == ["a", "b"]


async def test_a_batch_with_one_bad_item_is_rejected_whole_naming_item_and_field(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    bad = event("bad", customer="c-2")
    bad["customer"]["email"] = "not-an-email"
    batch = {"events": [event("good"), bad, event("late", occurred_at="yesterday")]}
    answer = await ingest.post("/v1/events", json=batch, headers=workspace.auth())

    assert answer.status_code == 422
    locations = {e["location"] for e in answer.json()["errors"]}
    assert locations == {"events.1.customer.email", "events.2.occurred_at"}
    assert await tap.published(topics.TOUCHPOINTS, workspace.id) == []
    retry = await ingest.post("/v1/events", json=event("good"), headers=workspace.auth())
    assert retry.status_code == 202, "the rejected batch must not have remembered 'good'"


async def test_limits_size_and_batch_length(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    huge = event("huge", attributes={"note": "x" * (1024 * 1024)})
    too_many = {"events": [event(f"e-{i}") for i in range(1001)]}

    oversize = await ingest.post("/v1/events", json=huge, headers=workspace.auth())
    overlong = await ingest.post("/v1/events", json=too_many, headers=workspace.auth())

    assert oversize.status_code == 413
    assert overlong.status_code == 422
    assert "at most 1000" in overlong.json()["detail"]
    assert await tap.published(topics.TOUCHPOINTS, workspace.id) == []


async def test_keys_are_checked_before_anything_is_read(
    ingest: httpx.AsyncClient, workspace: Workspace
) -> None:
    missing = await ingest.post("/v1/events", json=event("x"))
    wrong = await ingest.post("/v1/events", json=event("x"), headers={"Authorization": "Bearer x"})
    scope = await ingest.post(
        "/v1/events", json=event("x"), headers=workspace.auth(workspace.responses_key)
    )

    assert (missing.status_code, wrong.status_code, scope.status_code) == (401, 401, 403)


async def test_a_customers_events_are_published_in_the_order_accepted(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    async def customer(name: str) -> None:
        for n in range(15):
            answer = await ingest.post(
                "/v1/events", json=event(f"{name}-{n}", customer=name), headers=workspace.auth()
            )
            assert answer.status_code == 202

    await asyncio.gather(*(customer(f"c-{c}") for c in range(6)))

    published = touchpoints(await tap.published(topics.TOUCHPOINTS, workspace.id))
    assert len(published) == 90
    for c in range(6):
        ids = [e.event.id for e in published if e.event.customer.id == f"c-{c}"]
        assert ids == [f"c-{c}-{n}" for n in range(15)]


async def test_concurrent_requests_share_commits(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    def commits() -> float:
        return next(
            s.value for m in GROUP_SIZE.collect() for s in m.samples if s.name.endswith("_count")
        )

    before = commits()
    answers = await asyncio.gather(
        *(
            ingest.post("/v1/events", json=event(f"g-{n}"), headers=workspace.auth())
            for n in range(60)
        )
    )

    assert [a.status_code for a in answers] == [202] * 60
    assert commits() - before < 60, "every request committed alone"
    published = touchpoints(await tap.published(topics.TOUCHPOINTS, workspace.id))
    assert sorted(e.event.id for e in published) == sorted(f"g-{n}" for n in range(60))


def standard_headers(secret: str, body: bytes, *, msg_id: str, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers, signed independently of the library under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    stamp = str(int(at.timestamp()))
    signed = f"{msg_id}.{stamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


async def test_a_signed_canonical_event_needs_no_key(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    body = json.dumps(event("signed-1")).encode()
    url = f"/v1/events?source={workspace.id}:partner"
    now = datetime.now(UTC)
    signed = standard_headers(SECRETS["partner"][1], body, msg_id="msg_1", at=now)
    forged = standard_headers(
        "whsec_" + base64.b64encode(b"x" * 24).decode(), body, msg_id="m", at=now
    )

    accepted = await ingest.post(url, content=body, headers=signed)
    rejected = await ingest.post(url, content=body, headers=forged)
    unknown = await ingest.post(
        f"/v1/events?source={workspace.id}:nope", content=body, headers=signed
    )
    replayed = await ingest.post(url, content=body, headers=signed)

    assert accepted.status_code == 202, accepted.text
    assert rejected.status_code == 401
    assert unknown.status_code == 404
    assert replayed.status_code == 200
    assert replayed.json()["duplicate"] is True
    published = touchpoints(await tap.published(topics.TOUCHPOINTS, workspace.id))
    assert [(e.source, e.event.id) for e in published] == [("partner", "signed-1")]


async def test_a_signed_event_from_the_past_is_refused(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    body = json.dumps(event("stale")).encode()
    url = f"/v1/events?source={workspace.id}:partner"
    old = datetime.fromtimestamp(time.time() - 6 * 60, UTC)
    answer = await ingest.post(
        url, content=body, headers=standard_headers(SECRETS["partner"][0], body, msg_id="m", at=old)
    )

    assert answer.status_code == 401
    assert await tap.published(topics.TOUCHPOINTS, workspace.id) == []


async def test_event_ids_are_remembered_for_the_dedupe_window_then_forgotten(
    ingest_app: FastAPI, workspace: Workspace
) -> None:
    now = datetime.now(UTC)
    ages = {"old": timedelta(days=31), "recent": timedelta(days=29)}
    async with ingest_app.state.sessions() as session, session.begin():
        for event_id, age in ages.items():
            await session.execute(
                insert(received_events).values(
                    workspace_id=workspace.id,
                    source="api",
                    event_id=event_id,
                    received_at=now - age,
                )
            )
    async with ingest_app.state.sessions() as session, session.begin():
        await repository.forget_events_before(session, now - timedelta(days=30))
    async with ingest_app.state.sessions() as session:
        kept = await session.scalars(
            select(received_events.c.event_id).where(received_events.c.workspace_id == workspace.id)
        )
        assert set(kept) == {"recent"}
