"""Erasure in dispatch's send logs: a provider error that quotes the customer's address (an
SMTP 550 naming the mailbox, an SMS gateway quoting the number) keeps no address once the
customer is erased; other customers' logs and the codes stay. The scrubbing itself, for
every input: no known address and nothing that looks like one survives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cxloop_dispatch.redaction import ERASED, scrub_addresses
from cxloop_shared.events import Customer, CustomerChanged, Touchpoint, TouchpointReceived
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

EMAILS = st.emails().map(str)
PHONES = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
WORDS = st.text(alphabet=st.sampled_from("abcdefghij ,:;<>_"), max_size=30)
NOW = datetime.now(UTC).replace(microsecond=0)
CONFIG = {
    "timezone": "UTC",
    "touchpoints": {
        "checkout": {
            "survey": "csat",
            "policy": {"send_window": {"start": "00:00", "end": "00:00"}, "channels": ["email"]},
        }
    },
    "surveys": {"csat": {"metric": "csat", "question": {"en": "How was it?"}}},
    "channels": {"email": {"kind": "smtp"}},
}


def touchpoint(workspace_id: str, customer_id: str) -> TouchpointReceived:
    customer = Customer(id=customer_id, email=f"{customer_id}@example.com", phone="+14155550100")
    event = Touchpoint(
        id=f"e-{customer_id}", touchpoint="checkout", occurred_at=NOW, customer=customer
    )
    return TouchpointReceived(
        workspace_id=workspace_id, source="shop", received_at=NOW, event=event
    )


def erasure(workspace_id: str, customer_id: str) -> CustomerChanged:
    return CustomerChanged(
        workspace_id=workspace_id, customer_id=customer_id, change="erasure", changed_at=NOW
    )


@given(before=WORDS, address=EMAILS | PHONES, after=WORDS)
def test_no_address_survives_in_any_case(before: str, address: str, after: str) -> None:
    for quoted in (address, address.upper()):
        scrubbed = scrub_addresses(f"{before}{quoted} {after}", addresses=[])
        assert address.lower() not in scrubbed.lower()
        assert ERASED in scrubbed


@given(error=WORDS, known=st.text(alphabet=st.sampled_from("klmnop"), min_size=3))
def test_a_known_address_goes_whatever_it_looks_like_and_the_rest_stays(
    error: str, known: str
) -> None:
    assert scrub_addresses(f"{error}{known.upper()}{error}", addresses=[known]) == (
        f"{error}{ERASED}{error}"
    )
    assert scrub_addresses(error, addresses=[known]) == error


def test_codes_and_short_numbers_are_no_addresses() -> None:
    for code in ("circuit_open", "fallback_from:email:timeout", "HTTP 503 after 2 tries"):
        assert scrub_addresses(code, addresses=["ana@example.com"]) == code


async def logs_of(engine: AsyncEngine, workspace_id: str) -> dict[str, list[str]]:
    """Each event's invitation reason and send-ledger details, by customer."""
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "select i.customer_id, i.reason, l.detail from dispatch.invitations i"
                " left join dispatch.send_ledger l on l.invitation_id = i.id"
                " where i.workspace_id = :w order by i.customer_id, l.attempt"
            ),
            {"w": workspace_id},
        )
        logs: dict[str, list[str]] = {}
        for customer_id, reason, detail in found:
            logs.setdefault(customer_id, [reason]).append(detail)
        return logs


async def provider_failed(engine: AsyncEngine, workspace_id: str, customer_id: str) -> None:
    """Two failed attempts whose errors quote the address, and a reason that does too,
    as the scheduler logs what the providers answered."""
    async with engine.begin() as connection:
        invitation_id = await connection.scalar(
            text(
                "update dispatch.invitations set status = 'failed',"
                " reason = 'fallback_from:email:550 <' || address || '>: mailbox unavailable'"
                " where workspace_id = :w and customer_id = :c returning id"
            ),
            {"w": workspace_id, "c": customer_id},
        )
        await connection.execute(
            text(
                "insert into dispatch.send_ledger (invitation_id, attempt, channel, state, detail)"
                " values (:i, 1, 'email', 'failed', :first), (:i, 2, 'sms', 'failed', :second)"
            ),
            {
                "i": invitation_id,
                "first": f"550 5.1.1 <{customer_id.upper()}@EXAMPLE.COM> Recipient rejected",
                "second": "21610: +1 (415) 555-0100 is unsubscribed",
            },
        )


async def test_erasure_scrubs_the_addresses_out_of_the_customers_send_logs_only(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, **CONFIG)
    for customer_id in ("ana", "bo"):
        await handle([touchpoint(workspace_id, customer_id)])
        await provider_failed(engine, workspace_id, customer_id)
    before = await logs_of(engine, workspace_id)

    await handle([erasure(workspace_id, "ana")], topic="cx.customers")

    after = await logs_of(engine, workspace_id)
    assert after["bo"] == before["bo"]
    assert after["ana"] == [
        f"fallback_from:email:550 <{ERASED}>: mailbox unavailable",
        f"550 5.1.1 <{ERASED}> Recipient rejected",
        f"21610: {ERASED} is unsubscribed",
    ]
    await handle([erasure(workspace_id, "ana")], topic="cx.customers")
    assert await logs_of(engine, workspace_id) == after, "a redelivery changes nothing"
