"""GET and DELETE /v1/customers/{id} and GET /v1/events/{id}/trace through the gateway,
with dispatch's and scoring's real internal APIs over HTTP, the real Postgres and Kafka:
scopes, workspace isolation, the merged timeline, and an erasure made durable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cxloop_devstack.ports import free_port
from cxloop_devstack.serving import serving
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from cxloop_shared import topics
from cxloop_shared.cloudevents import decode, header
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import (
    Customer,
    CustomerChanged,
    CxEvent,
    InvitationChanged,
    ResponseRecorded,
    Touchpoint,
    TouchpointReceived,
    utcnow,
)
from gateway_customers_support import Services, dispatch_api, scoring_api
from gateway_support import ADMIN, INTERNAL_TOKEN, NewWorkspace, bearer, issue_key
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

COMMENT = "The courier was late"


def config(workspace_id: str) -> dict[str, Any]:
    """Checkout and delivery surveyed by email; delivery a day later (so it stays pending)."""
    policy: dict[str, Any] = {
        "send_window": {"start": "00:00", "end": "00:00"},
        "channels": ["email"],
    }
    return {
        "workspace": workspace_id,
        "timezone": "UTC",
        "touchpoints": {
            "checkout": {"survey": "csat", "policy": policy},
            "delivered": {"survey": "csat", "policy": policy | {"delay": "P1D"}},
        },
        "surveys": {"csat": {"metric": "csat", "question": {"en": "How was it?"}}},
        "channels": {
            "email": {"kind": "smtp", "host": "127.0.0.1", "port": 25, "from": "cx@acme.test"}
        },
    }


@pytest.fixture(scope="module")
def internal_urls(database_url: str) -> Iterator[tuple[str, str]]:
    """Dispatch's and scoring's real internal read APIs, served over HTTP."""
    with (
        serving(dispatch_api(database_url, INTERNAL_TOKEN)) as dispatch_url,
        serving(scoring_api(database_url, INTERNAL_TOKEN)) as scoring_url,
    ):
        yield dispatch_url, scoring_url


@pytest.fixture(scope="module")
def customer_settings(
    settings: Settings,
    internal_urls: tuple[str, str],
    kafka_bootstrap: str,
    kafka_idempotence: bool,
) -> Settings:
    dispatch_url, scoring_url = internal_urls
    return settings.model_copy(
        update={
            "dispatch_url": dispatch_url,
            "scoring_url": scoring_url,
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_idempotence": kafka_idempotence,
        }
    )


@asynccontextmanager
async def gateway_with(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def api(customer_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_with(customer_settings) as client:
        yield client


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def services(engine: AsyncEngine) -> Services:
    return Services(session_factory(engine))


async def configured(api: httpx.AsyncClient, workspace_id: str) -> NewWorkspace:
    created = await api.post("/v1/workspaces", json={"id": workspace_id}, headers=ADMIN)
    assert created.status_code == 201, created.text
    workspace = NewWorkspace(workspace_id, created.json()["admin_key"]["key"])
    applied = await api.put("/v1/config", json=config(workspace_id), headers=workspace.admin)
    assert applied.status_code == 200, applied.text
    return workspace


def touchpoint(workspace_id: str, event_id: str, name: str, at: datetime) -> TouchpointReceived:
    customer = Customer(id="c-1", email="ana@example.com", phone="+14155550100", persona="smb")
    return TouchpointReceived(
        workspace_id=workspace_id,
        source="shop",
        received_at=at,
        event=Touchpoint(
            id=event_id,
            touchpoint=name,
            occurred_at=at,
            customer=customer,
            attributes={"order_value": 80},
        ),
    )


async def invitation_of(engine: AsyncEngine, workspace_id: str, event_id: str) -> uuid.UUID:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("select id from dispatch.invitations where workspace_id = :w and event_id = :e"),
            {"w": workspace_id, "e": event_id},
        )
    assert isinstance(found, uuid.UUID)
    return found


async def journey(services: Services, engine: AsyncEngine, workspace_id: str) -> None:
    """c-1 checks out, is surveyed and answers with a comment; a delivery survey is pending.
    Each step happens after the one before, as the timeline will tell."""
    await services.handle([touchpoint(workspace_id, "ord-1", "checkout", utcnow())])
    invited = await invitation_of(engine, workspace_id, "ord-1")
    async with engine.begin() as connection:  # what dispatch's scheduler would have done
        await connection.execute(
            text("update dispatch.invitations set status = 'sent', sent_at = now() where id = :i"),
            {"i": invited},
        )
    sent = InvitationChanged(
        workspace_id=workspace_id,
        invitation_id=invited,
        event_id="ord-1",
        source="shop",
        touchpoint="checkout",
        customer_id="c-1",
        status="sent",
        metric="csat",
        channel="email",
        changed_at=utcnow(),
    )
    answer = ResponseRecorded(
        workspace_id=workspace_id,
        response_id=str(invited),
        invitation_id=invited,
        customer_id="c-1",
        touchpoint="checkout",
        metric="csat",
        channel="email",
        score=2,
        comment=COMMENT,
        answered_at=utcnow(),
        collected_via="link",
    )
    events: list[CxEvent] = [sent, answer]
    await services.handle(events)
    await services.handle([touchpoint(workspace_id, "ord-1-delivered", "delivered", utcnow())])


async def test_a_customer_reads_as_one_timeline_from_both_services(
    api: httpx.AsyncClient, services: Services, engine: AsyncEngine, workspace_id: str
) -> None:
    workspace = await configured(api, workspace_id)
    await journey(services, engine, workspace_id)
    reader = bearer((await issue_key(api, workspace, "customers:read"))["key"])

    answer = await api.get("/v1/customers/c-1", headers=reader)

    assert answer.status_code == 200, answer.text
    customer = answer.json()
    assert (customer["workspace_id"], customer["customer_id"]) == (workspace_id, "c-1")
    assert (customer["erased"], customer["erased_at"], customer["truncated"]) == (
        False,
        None,
        False,
    )
    profile = customer["profile"]
    assert (profile["email"], profile["phone"], profile["persona"]) == (
        "a***@example.com",
        "+1********00",
        "smb",
    )
    moments = [
        (entry["kind"], (entry["touchpoint"] or entry["decision"] or entry["answer"]))
        for entry in customer["timeline"]
    ]
    assert [(kind, part.get("event_id") or part.get("response_id")) for kind, part in moments] == [
        ("touchpoint", "ord-1"),
        ("decision", "ord-1"),
        ("answer", str(await invitation_of(engine, workspace_id, "ord-1"))),
        ("touchpoint", "ord-1-delivered"),
        ("decision", "ord-1-delivered"),
    ]
    assert moments[2][1]["comment"] == COMMENT
    assert moments[4][1]["status"] == "scheduled"
    stamps = [entry["at"] for entry in customer["timeline"]]
    assert stamps == sorted(stamps)

    capped = await api.get("/v1/customers/c-1", params={"limit": 2}, headers=reader)
    assert [e["kind"] for e in capped.json()["timeline"]] == ["touchpoint", "decision"]
    assert capped.json()["truncated"] is True


async def test_an_events_trace_lists_its_decisions_with_reasons(
    api: httpx.AsyncClient, services: Services, engine: AsyncEngine, workspace_id: str
) -> None:
    workspace = await configured(api, workspace_id)
    await journey(services, engine, workspace_id)
    reader = bearer((await issue_key(api, workspace, "customers:read"))["key"])

    every = await api.get("/v1/events/ord-1-delivered/trace", headers=reader)
    other_source = await api.get(
        "/v1/events/ord-1-delivered/trace", params={"source": "helpdesk"}, headers=reader
    )

    assert every.status_code == 200, every.text
    (decision,) = every.json()["decisions"]
    assert (decision["source"], decision["status"], decision["reason"]) == (
        "shop",
        "scheduled",
        "scheduled_later",
    )
    assert decision["customer_id"] == "c-1"
    assert other_source.status_code == 404
    assert other_source.headers["content-type"] == "application/problem+json"
    assert "ord-1-delivered" in other_source.json()["detail"]


async def test_each_route_wants_its_scope(
    api: httpx.AsyncClient, services: Services, engine: AsyncEngine, workspace_id: str
) -> None:
    workspace = await configured(api, workspace_id)
    await journey(services, engine, workspace_id)
    metrics_only = bearer((await issue_key(api, workspace, "metrics:read"))["key"])
    reader = bearer((await issue_key(api, workspace, "customers:read"))["key"])

    refused = [
        await api.get("/v1/customers/c-1", headers=metrics_only),
        await api.get("/v1/events/ord-1/trace", headers=metrics_only),
        await api.delete("/v1/customers/c-1", headers=metrics_only),
        await api.delete("/v1/customers/c-1", headers=reader),
    ]

    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert "'customers:read'" in refused[0].json()["detail"]
    assert "'customers:write'" in refused[3].json()["detail"]
    assert (await api.get("/v1/customers/c-1")).status_code == 401


async def test_another_workspaces_customer_and_event_are_not_found(
    api: httpx.AsyncClient, services: Services, engine: AsyncEngine, workspace_id: str
) -> None:
    await configured(api, workspace_id)
    await journey(services, engine, workspace_id)
    other = await configured(api, f"{workspace_id}-b")

    customer = await api.get("/v1/customers/c-1", headers=other.admin)
    trace = await api.get("/v1/events/ord-1/trace", headers=other.admin)
    nobody = await api.get("/v1/customers/nobody", headers=other.admin)

    assert [customer.status_code, trace.status_code, nobody.status_code] == [404, 404, 404]
    assert customer.json()["detail"] == "no customer 'c-1' in this workspace"


async def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    """Where each partition of `cx.customers` ends now."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        numbers = sorted(await producer.partitions_for(topics.CUSTOMERS))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(
            await consumer.end_offsets([TopicPartition(topics.CUSTOMERS, n) for n in numbers])
        )
    finally:
        await consumer.stop()


async def published_since(
    bootstrap: str, since: dict[TopicPartition, int]
) -> list[tuple[CxEvent, str | None]]:
    """The `cx.customers` events after `since`, with their CloudEvents source."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(since))
        ends = await consumer.end_offsets(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        found = []
        while [p for p in since if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = decode(record.headers, record.value)
                    found.append((event, header(record.headers, "ce_source")))
        return found
    finally:
        await consumer.stop()


async def test_an_erasure_is_durable_before_the_202_and_then_shows(
    api: httpx.AsyncClient,
    services: Services,
    engine: AsyncEngine,
    kafka_bootstrap: str,
    workspace_id: str,
) -> None:
    workspace = await configured(api, workspace_id)
    await journey(services, engine, workspace_id)
    writer = bearer((await issue_key(api, workspace, "customers:write", "customers:read"))["key"])
    before = await end_offsets(kafka_bootstrap)

    answer = await api.delete("/v1/customers/c-1", headers=writer)

    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert (accepted["status"], accepted["customer_id"]) == ("accepted", "c-1")
    assert any("pending invitations" in line for line in accepted["what_happens"])
    published = [
        (event, source)
        for event, source in await published_since(kafka_bootstrap, before)
        if event.workspace_id == workspace_id
    ]
    ((erasure, source),) = published
    assert isinstance(erasure, CustomerChanged)
    assert (erasure.customer_id, erasure.change, source) == ("c-1", "erasure", "cxloop/gateway")
    assert erasure.changed_at.isoformat() == accepted["requested_at"].replace("Z", "+00:00")

    await services.handle([erasure])  # as dispatch's and scoring's consumers would

    erased = (await api.get("/v1/customers/c-1", headers=writer)).json()
    assert erased["erased"] is True
    assert erased["profile"]["email"] is None
    assert erased["profile"]["erased_at"] == erased["erased_at"]
    kinds = [(e["kind"], (e["decision"] or {}).get("reason")) for e in erased["timeline"]]
    assert kinds == [("decision", "scheduled"), ("decision", "erased")], (
        "touchpoints and answers are filed under a pseudonym now; decisions stay"
    )


async def test_an_erasure_kafka_cannot_take_is_a_503_and_no_202(
    customer_settings: Settings, api: httpx.AsyncClient, workspace_id: str
) -> None:
    workspace = await configured(api, workspace_id)
    nowhere = f"127.0.0.1:{free_port()}"
    async with gateway_with(
        customer_settings.model_copy(update={"kafka_bootstrap_servers": nowhere})
    ) as cut_off:
        answer = await cut_off.delete("/v1/customers/c-1", headers=workspace.admin)
        reads = await cut_off.get("/v1/customers/c-1", headers=workspace.admin)

    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert "nothing was erased" in answer.json()["detail"]
    assert reads.status_code == 404, "reads do not need Kafka"
