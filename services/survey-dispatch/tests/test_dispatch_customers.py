"""Dispatch's internal customer and trace reads against the real Postgres, fed by the
real handlers: masked profiles, decisions with reasons, erasure, workspace isolation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cxloop_dispatch.customer_endpoints import router
from cxloop_dispatch.settings import Settings
from cxloop_shared.customers import DispatchCustomer, EventTrace
from cxloop_shared.events import Customer, CustomerChanged, Touchpoint, TouchpointReceived
from cxloop_shared.http import install_error_handlers
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

TOKEN = "dispatch-test-internal-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)


def config() -> dict[str, Any]:
    """Checkout surveyed by email a day later (so its invitation stays pending)."""
    return {
        "timezone": "UTC",
        "touchpoints": {
            "checkout": {
                "survey": "csat",
                "policy": {
                    "delay": "P1D",
                    "send_window": {"start": "00:00", "end": "00:00"},
                    "channels": ["email", "sms"],
                },
            }
        },
        "surveys": {"csat": {"metric": "csat", "question": {"en": "How was it?"}}},
        "channels": {"email": {"kind": "smtp"}, "sms": {"kind": "twilio"}},
    }


def touchpoint(
    workspace_id: str, event_id: str, *, source: str = "shop", **customer: Any
) -> TouchpointReceived:
    return TouchpointReceived(
        workspace_id=workspace_id,
        source=source,
        received_at=NOW,
        event=Touchpoint(
            id=event_id,
            touchpoint="checkout",
            occurred_at=NOW - timedelta(minutes=5),
            customer=Customer(id=customer.pop("id", "c-1"), **customer),
        ),
    )


def erasure(workspace_id: str, customer_id: str = "c-1") -> CustomerChanged:
    return CustomerChanged(
        workspace_id=workspace_id, customer_id=customer_id, change="erasure", changed_at=NOW
    )


@pytest.fixture
async def api(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    """Dispatch's customer routes on a bare app: no lifespan, so no consumer or scheduler."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings = Settings(internal_token=SecretStr(TOKEN))
    app.state.sessions = sessions
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as client:
        yield client


async def read_customer(
    api: httpx.AsyncClient, workspace_id: str, customer_id: str = "c-1", **query: Any
) -> DispatchCustomer:
    answer = await api.get(
        f"/internal/v1/customers/{customer_id}",
        params={"workspace_id": workspace_id, **query},
        headers=BEARER,
    )
    assert answer.status_code == 200, answer.text
    return DispatchCustomer.model_validate_json(answer.content)


async def test_a_customer_reads_with_masked_contacts_and_every_decision(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(
        workspace_id, **config() | {"fatigue": [{"scope": "any_survey", "max": 1, "per": "P7D"}]}
    )
    await handle(
        [
            touchpoint(
                workspace_id,
                "ord-1",
                email="ana@example.com",
                phone="+14155550100",
                locale="en-US",
                persona="smb-owner",
            )
        ]
    )
    await handle([touchpoint(workspace_id, "ord-2", email="ana@example.com")])
    opt_out = CustomerChanged(
        workspace_id=workspace_id,
        customer_id="c-1",
        change="opt_out",
        channel="sms",
        changed_at=NOW,
    )
    await handle([opt_out], topic="cx.customers")

    customer = await read_customer(api, workspace_id)

    profile = customer.profile
    assert profile is not None
    assert (profile.email, profile.phone) == ("a***@example.com", "+1********00")
    assert (profile.locale, profile.persona, profile.erased_at) == ("en-US", "smb-owner", None)
    assert profile.consent["sms"].opted_out is True
    assert [(d.event_id, d.status, d.reason) for d in customer.decisions] == [
        ("ord-2", "suppressed", "fatigue:any_survey:P7D"),
        ("ord-1", "scheduled", "scheduled_later"),
    ], "newest first, each with its reason"
    scheduled = next(d for d in customer.decisions if d.event_id == "ord-1")
    assert scheduled.channel == "email"
    assert scheduled.send_at is not None
    assert scheduled.send_at > NOW
    assert "ana@example.com" not in customer.model_dump_json()
    assert "4155550100" not in customer.model_dump_json()


async def test_decisions_are_newest_first_and_capped(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, **config())
    for n in range(3):
        await handle([touchpoint(workspace_id, f"ord-{n}", email="ana@example.com")])

    customer = await read_customer(api, workspace_id, limit=2)

    assert [d.event_id for d in customer.decisions] == ["ord-2", "ord-1"]
    assert customer.truncated is True
    too_many = await api.get(
        "/internal/v1/customers/c-1",
        params={"workspace_id": workspace_id, "limit": 501},
        headers=BEARER,
    )
    assert too_many.status_code == 422
    assert "limit" in too_many.text


async def test_another_workspaces_customer_and_event_are_not_found(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, **config())
    await handle([touchpoint(workspace_id, "ord-1", email="ana@example.com")])
    elsewhere = f"{workspace_id}-other"
    await configure(elsewhere, **config())

    customer = await api.get(
        "/internal/v1/customers/c-1", params={"workspace_id": elsewhere}, headers=BEARER
    )
    trace = await api.get(
        "/internal/v1/events/ord-1/trace", params={"workspace_id": elsewhere}, headers=BEARER
    )

    assert customer.status_code == 404
    assert customer.headers["content-type"] == "application/problem+json"
    assert "c-1" in customer.json()["detail"]
    assert trace.status_code == 404
    assert "ord-1" in trace.json()["detail"]


async def test_the_internal_api_wants_the_internal_token(
    api: httpx.AsyncClient, workspace_id: str
) -> None:
    params = {"workspace_id": workspace_id}
    missing = await api.get("/internal/v1/customers/c-1", params=params)
    wrong = await api.get(
        "/internal/v1/events/e/trace", params=params, headers={"Authorization": "Bearer nope"}
    )
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_a_trace_shows_each_sources_decision_with_its_attempts(
    api: httpx.AsyncClient, handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, **config())
    await handle([touchpoint(workspace_id, "evt/7", email="ana@example.com")])
    await handle(
        [touchpoint(workspace_id, "evt/7", source="helpdesk", id="c-2", email="bo@example.com")]
    )
    async with engine.begin() as connection:
        invitation_id = await connection.scalar(
            text("select id from dispatch.invitations where workspace_id = :w and source = 'shop'"),
            {"w": workspace_id},
        )
        await connection.execute(
            text(
                "insert into dispatch.send_ledger (invitation_id, attempt, channel, state, detail)"
                " values (:i, 1, 'email', 'retry', 'smtp 451: try later')"
            ),
            {"i": invitation_id},
        )

    every = await api.get(
        "/internal/v1/events/evt%2F7/trace", params={"workspace_id": workspace_id}, headers=BEARER
    )
    helpdesk = await api.get(
        "/internal/v1/events/evt%2F7/trace",
        params={"workspace_id": workspace_id, "source": "helpdesk"},
        headers=BEARER,
    )

    assert every.status_code == 200, every.text
    trace = EventTrace.model_validate_json(every.content)
    assert trace.event_id == "evt/7"
    assert sorted((d.source, d.customer_id, d.status) for d in trace.decisions) == [
        ("helpdesk", "c-2", "scheduled"),
        ("shop", "c-1", "scheduled"),
    ]
    shop = next(d for d in trace.decisions if d.source == "shop")
    assert shop.invitation_id == invitation_id
    assert [(a.attempt, a.state, a.detail) for a in shop.attempts] == [
        (1, "retry", "smtp 451: try later")
    ]
    only = EventTrace.model_validate_json(helpdesk.content)
    assert [d.source for d in only.decisions] == ["helpdesk"]


async def test_an_erased_customer_reads_as_erased_with_pending_invitations_cancelled(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, **config())
    await handle([touchpoint(workspace_id, "ord-1", email="ana@example.com", phone="+14155550100")])

    await handle([erasure(workspace_id)], topic="cx.customers")

    customer = await read_customer(api, workspace_id)
    assert customer.profile is not None
    assert customer.profile.erased_at == NOW
    assert (customer.profile.email, customer.profile.phone, customer.profile.locale) == (
        None,
        None,
        None,
    )
    (cancelled,) = customer.decisions
    assert (cancelled.status, cancelled.reason) == ("suppressed", "erased")


async def test_a_customer_with_a_slash_in_the_id_is_found_by_the_encoded_path(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, **config())
    customer_id = f"crm/{uuid.uuid4().hex[:6]}"
    await handle([touchpoint(workspace_id, "ord-1", id=customer_id, email="ana@example.com")])

    customer = await read_customer(api, workspace_id, customer_id.replace("/", "%2F"))

    assert customer.customer_id == customer_id
