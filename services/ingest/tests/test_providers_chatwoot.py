"""Chatwoot: the timestamped `sha256=` signature, and resolved conversations as touchpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_ingest.providers import adapter_for
from cxloop_ingest.providers.base import Delivery, PayloadRejected, SignatureRejected
from cxloop_shared.events import Customer, Touchpoint
from providers_support import NOW, delivery, document, payload, source

SECRET = "chatwoot-secret-current"
OLD_SECRET = "chatwoot-secret-old"
CHAT = source("chatwoot", {"conversation_resolved": "contact_ended", "message_created": "message"})
adapter = adapter_for("chatwoot")


def signed(body: bytes, *, secret: str = SECRET, at: datetime = NOW) -> Delivery:
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Delivery": "0f3c1e8a-5b2d-4c7e-9a1f-6d8b2e4c0a93",
        "Content-Type": "application/json",
    }
    return delivery(body, headers)


def test_a_resolved_conversation_becomes_a_contact_ended_touchpoint() -> None:
    resolved = signed(payload("chatwoot_conversation_status_changed.json"))

    adapter.verify(resolved, [SECRET], now=NOW)
    mapped = adapter.map(resolved, CHAT)

    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="207:conversation_resolved:1795417200",
            touchpoint="contact_ended",
            occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            customer=Customer(id="c-42", email="ana@example.com", phone="+14155550100"),
            channel="chat",
            attributes={
                "channel": "chat",
                "agent": "Priya Raman",
                "queue": "3",
                "handle_time_seconds": 1500,
                "conversation_id": "207",
                "status": "resolved",
            },
        )
    ]


def test_an_agent_bots_conversation_resolved_event_maps_to_the_same_id() -> None:
    conversation = document("chatwoot_conversation_status_changed.json")
    conversation["event"] = "conversation_resolved"
    del conversation["changed_attributes"]

    (touchpoint,) = adapter.map(signed(json.dumps(conversation).encode()), CHAT).touchpoints

    assert touchpoint.id == "207:conversation_resolved:1795417200"


def test_a_message_event_reads_the_nested_conversation() -> None:
    message = signed(payload("chatwoot_message_created.json"))

    (touchpoint,) = adapter.map(message, CHAT).touchpoints

    assert touchpoint == Touchpoint(
        id="208:message_created:6550",
        touchpoint="message",
        occurred_at=datetime(2026, 11, 23, 7, 1, 40, tzinfo=UTC),
        customer=Customer(id="978", phone="+819012345678"),
        channel="messaging",
        attributes={
            "channel": "messaging",
            "queue": "WhatsApp Japan",
            "conversation_id": "208",
            "status": "open",
        },
    )


def test_a_status_change_to_anything_but_resolved_keeps_its_own_type() -> None:
    conversation = document("chatwoot_conversation_status_changed.json") | {"status": "pending"}

    mapped = adapter.map(signed(json.dumps(conversation).encode()), CHAT)

    assert (mapped.touchpoints, mapped.ignored) == ((), "conversation_status_changed")


def test_a_tampered_body_is_rejected() -> None:
    body = payload("chatwoot_conversation_status_changed.json")
    resolved = signed(body)
    forged = delivery(
        body.replace(b'"identifier": "c-42"', b'"identifier": "c-43"'), resolved.headers
    )

    with pytest.raises(SignatureRejected):
        adapter.verify(forged, [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    resolved = signed(payload("chatwoot_conversation_status_changed.json"), secret="other")

    with pytest.raises(SignatureRejected):
        adapter.verify(resolved, [SECRET], now=NOW)


def test_a_signature_over_the_body_alone_is_rejected() -> None:
    """The timestamp is part of the signed string, so it cannot be swapped."""
    body = payload("chatwoot_conversation_status_changed.json")
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": str(int(NOW.timestamp())),
    }

    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(body, headers), [SECRET], now=NOW)


@pytest.mark.parametrize("header", ["x-chatwoot-signature", "x-chatwoot-timestamp"])
def test_a_delivery_missing_a_signature_header_is_rejected(header: str) -> None:
    resolved = signed(payload("chatwoot_conversation_status_changed.json"))
    headers = {k: v for k, v in resolved.headers.items() if k != header}

    with pytest.raises(SignatureRejected, match="missing"):
        adapter.verify(delivery(resolved.body, headers), [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-5, seconds=-6), False),
        (timedelta(minutes=-4, seconds=-55), True),
        (timedelta(minutes=4, seconds=55), True),
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_a_signature_is_fresh_for_five_minutes_either_way(
    offset: timedelta, accepted: bool
) -> None:
    resolved = signed(payload("chatwoot_conversation_status_changed.json"), at=NOW + offset)

    if accepted:
        adapter.verify(resolved, [SECRET], now=NOW)
    else:
        with pytest.raises(SignatureRejected, match="tolerance"):
            adapter.verify(resolved, [SECRET], now=NOW)


def test_during_rotation_either_secret_verifies_and_a_removed_one_does_not() -> None:
    body = payload("chatwoot_conversation_status_changed.json")

    adapter.verify(signed(body, secret=SECRET), [OLD_SECRET, SECRET], now=NOW)
    adapter.verify(signed(body, secret=OLD_SECRET), [OLD_SECRET, SECRET], now=NOW)
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(body, secret=OLD_SECRET), [SECRET], now=NOW)


def test_an_unmapped_event_is_ignored() -> None:
    conversation = document("chatwoot_conversation_status_changed.json")
    conversation["event"] = "conversation_updated"

    mapped = adapter.map(signed(json.dumps(conversation).encode()), CHAT)

    assert (mapped.touchpoints, mapped.ignored) == ((), "conversation_updated")


def test_a_conversation_without_its_contact_is_rejected() -> None:
    conversation = document("chatwoot_conversation_status_changed.json")
    del conversation["meta"]["sender"]

    with pytest.raises(PayloadRejected, match=r"^meta\.sender\.id: "):
        adapter.map(signed(json.dumps(conversation).encode()), CHAT)
