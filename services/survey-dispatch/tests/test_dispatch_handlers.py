"""Touchpoints and consent through dispatch's handlers: profiles, fatigue, opt-outs, erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cxloop_shared.events import Customer, CustomerChanged, Touchpoint, TouchpointReceived
from cxloop_shared.links import address_digest
from dispatch_support import LINK_SECRET
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime.now(UTC).replace(microsecond=0)


def config() -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "touchpoints": {
            "checkout": {
                "survey": "csat",
                "policy": {
                    "send_window": {"start": "00:00", "end": "00:00"},
                    "channels": ["preferred", "email", "sms"],
                },
            }
        },
        "surveys": {"csat": {"metric": "csat", "question": {"en": "How was it?"}}},
        "channels": {"email": {"kind": "smtp"}, "sms": {"kind": "twilio"}},
        "fatigue": [{"scope": "any_survey", "max": 1, "per": "P7D"}],
    }


def touchpoint(
    workspace_id: str, event_id: str, *, at: datetime = NOW, **customer: Any
) -> TouchpointReceived:
    return TouchpointReceived(
        workspace_id=workspace_id,
        source="shop",
        received_at=at,
        event=Touchpoint(
            id=event_id,
            touchpoint="checkout",
            occurred_at=at,
            customer=Customer(id=customer.pop("id", "c-1"), **customer),
        ),
    )


def consent(workspace_id: str, change: str, channel: str | None, **fields: Any) -> CustomerChanged:
    return CustomerChanged(
        workspace_id=workspace_id,
        customer_id=fields.pop("customer_id", "c-1"),
        change=change,  # type: ignore[arg-type]
        channel=channel,
        changed_at=fields.pop("at", NOW),
        **fields,
    )


async def decisions(engine: AsyncEngine, workspace_id: str) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select event_id, reason, address from dispatch.invitations"
                " where workspace_id = :w order by event_id"
            ),
            {"w": workspace_id},
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_profile_remembers_an_address_that_later_events_leave_out(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, **config() | {"fatigue": []})
    await handle([touchpoint(workspace_id, "e-1", at=NOW - timedelta(minutes=2), email="a@x.io")])
    await handle([touchpoint(workspace_id, "e-2", at=NOW - timedelta(minutes=1))])

    assert await decisions(engine, workspace_id) == [
        ("e-1", "scheduled", "a@x.io"),
        ("e-2", "scheduled", "a@x.io"),
    ]


async def test_fatigue_counts_invitations_decided_earlier_in_the_same_batch(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, **config())
    await handle(
        [
            touchpoint(workspace_id, "e-1", email="ana@example.com"),
            touchpoint(workspace_id, "e-2", email="ana@example.com"),
        ]
    )

    assert [reason for _, reason, _ in await decisions(engine, workspace_id)] == [
        "scheduled",
        "fatigue:any_survey:P7D",
    ]


async def test_opt_outs_by_channel_and_by_number_steer_the_channel(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, **config() | {"fatigue": []})
    phone = "+14155550100"
    await handle([consent(workspace_id, "opt_out", "email")], topic="cx.customers")
    await handle([touchpoint(workspace_id, "e-1", email="a@example.com", phone=phone)])
    digest = address_digest(phone, workspace_id=workspace_id, secret=LINK_SECRET)
    stop = consent(workspace_id, "opt_out", "sms", customer_id="c-other", address_digest=digest)
    await handle([stop], topic="cx.customers")
    await handle([touchpoint(workspace_id, "e-2", email="a@example.com", phone=phone)])

    assert await decisions(engine, workspace_id) == [
        ("e-1", "scheduled", phone),
        ("e-2", "opted_out:email", None),
    ]


async def test_erasure_cancels_what_is_pending_and_forgets_the_addresses(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    later = {"send_window": {"start": "00:00", "end": "00:00"}, "delay": "P1D"}
    document = config() | {"fatigue": []}
    document["touchpoints"]["checkout"]["policy"] |= later
    await configure(workspace_id, **document)
    await handle([touchpoint(workspace_id, "e-1", email="ana@example.com")])
    await handle([consent(workspace_id, "erasure", None)], topic="cx.customers")
    await handle([touchpoint(workspace_id, "e-2", email="ana@example.com")])

    assert await decisions(engine, workspace_id) == [
        ("e-1", "erased", None),
        ("e-2", "erased", None),
    ]
    async with engine.connect() as connection:
        fields = await connection.scalar(
            text("select fields from dispatch.customers where workspace_id = :w"),
            {"w": workspace_id},
        )
    assert fields == {}
