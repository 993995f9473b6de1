"""Zendesk: the timestamped signature, and solved tickets from either body shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_ingest.providers import adapter_for
from cxloop_ingest.providers.base import Delivery, PayloadRejected, SignatureRejected
from cxloop_shared.events import Customer, Touchpoint
from providers_support import NOW, delivery, document, payload, source

SECRET = "zendesk-signing-secret-2"
OLD_SECRET = "zendesk-signing-secret-1"
HELPDESK = source("zendesk", {"ticket.solved": "ticket_closed", "ticket.created": "ticket_opened"})
adapter = adapter_for("zendesk")


def signed(body: bytes, *, secret: str = SECRET, at: datetime = NOW) -> Delivery:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    headers = {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Id": "01GK8E6BKWMJZD2T8Y5AXJQMG5",
        "X-Zendesk-Webhook-Invocation-Id": "8350205582",
        "X-Zendesk-Account-Id": "22129848",
    }
    return delivery(body, headers)


def test_a_status_change_to_solved_becomes_a_ticket_closed_touchpoint() -> None:
    event = signed(payload("zendesk_ticket_status_changed.json"))

    adapter.verify(event, [SECRET], now=NOW)
    mapped = adapter.map(event, HELPDESK)

    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="cbe4028c-7239-495d-b020-f22348516046",
            touchpoint="ticket_closed",
            occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            customer=Customer(id="8447388090494"),
            channel="web_form",
            attributes={
                "ticket_id": "5158",
                "channel": "web_form",
                "group": "8447320466430",
                "agent": "8447388090494",
                "priority": "HIGH",
                "status": "solved",
                "tags": "delivery,damaged",
            },
        )
    ]


def test_a_trigger_body_becomes_the_same_touchpoint_with_the_requesters_details() -> None:
    trigger = signed(payload("zendesk_trigger_ticket_solved.json"))

    adapter.verify(trigger, [SECRET], now=NOW)
    (touchpoint,) = adapter.map(trigger, HELPDESK).touchpoints

    assert touchpoint == Touchpoint(
        id="5158-1795417200",
        touchpoint="ticket_closed",
        occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        customer=Customer(id="8447388090494", email="ana.silva@example.com"),
        channel="web_form",
        attributes={
            "ticket_id": "5158",
            "channel": "Web Form",
            "group": "Tier 1 Support",
            "agent": "Priya Raman",
            "priority": "High",
            "status": "solved",
            "tags": "delivery,damaged",
        },
    )


def test_a_trigger_body_without_type_or_id_derives_both() -> None:
    body = document("zendesk_trigger_ticket_solved.json")
    del body["type"], body["id"]
    body["ticket"]["status"] = "Closed"
    trigger = signed(json.dumps(body).encode())

    (touchpoint,) = adapter.map(trigger, source("zendesk", {"ticket.closed": "x"})).touchpoints

    assert touchpoint.id == "8350205582", "the invocation id when the body has none"


def test_other_events_pass_through_under_their_own_type() -> None:
    event = document("zendesk_ticket_status_changed.json")
    event["type"] = "zen:event-type:ticket.created"
    (created,) = adapter.map(signed(json.dumps(event).encode()), HELPDESK).touchpoints

    event["type"] = "zen:event-type:ticket.status_changed"
    event["event"] = {"previous": "OPEN", "current": "PENDING"}
    pending = adapter.map(signed(json.dumps(event).encode()), HELPDESK)

    assert created.touchpoint == "ticket_opened"
    assert (pending.touchpoints, pending.ignored) == ((), "ticket.status_changed")


def test_a_tampered_body_is_rejected() -> None:
    body = payload("zendesk_ticket_status_changed.json")
    event = signed(body)
    forged = delivery(
        body.replace(b'"requester_id": "8447', b'"requester_id": "9447'), event.headers
    )

    with pytest.raises(SignatureRejected):
        adapter.verify(forged, [SECRET], now=NOW)


def test_a_tampered_timestamp_is_rejected() -> None:
    event = signed(payload("zendesk_ticket_status_changed.json"))
    headers = dict(event.headers)
    headers["x-zendesk-webhook-signature-timestamp"] = "2026-11-23T07:00:01Z"

    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(event.body, headers), [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    event = signed(payload("zendesk_ticket_status_changed.json"), secret="not-the-secret")

    with pytest.raises(SignatureRejected):
        adapter.verify(event, [SECRET], now=NOW)


@pytest.mark.parametrize(
    "header", ["x-zendesk-webhook-signature", "x-zendesk-webhook-signature-timestamp"]
)
def test_a_delivery_missing_a_signature_header_is_rejected(header: str) -> None:
    event = signed(payload("zendesk_ticket_status_changed.json"))
    headers = {k: v for k, v in event.headers.items() if k != header}

    with pytest.raises(SignatureRejected, match="missing"):
        adapter.verify(delivery(event.body, headers), [SECRET], now=NOW)


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
    event = signed(payload("zendesk_ticket_status_changed.json"), at=NOW + offset)

    if accepted:
        adapter.verify(event, [SECRET], now=NOW)
    else:
        with pytest.raises(SignatureRejected, match="tolerance"):
            adapter.verify(event, [SECRET], now=NOW)


def test_during_rotation_either_secret_verifies_and_a_removed_one_does_not() -> None:
    body = payload("zendesk_ticket_status_changed.json")

    adapter.verify(signed(body, secret=SECRET), [OLD_SECRET, SECRET], now=NOW)
    adapter.verify(signed(body, secret=OLD_SECRET), [OLD_SECRET, SECRET], now=NOW)
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(body, secret=OLD_SECRET), [SECRET], now=NOW)


def test_an_unmapped_event_type_is_ignored() -> None:
    event = document("zendesk_ticket_status_changed.json") | {
        "type": "zen:event-type:ticket.priority_changed"
    }

    mapped = adapter.map(signed(json.dumps(event).encode()), HELPDESK)

    assert (mapped.touchpoints, mapped.ignored) == ((), "ticket.priority_changed")


@pytest.mark.parametrize(
    ("name", "drop", "field"),
    [
        ("zendesk_ticket_status_changed.json", ("detail", "requester_id"), "detail.requester_id"),
        ("zendesk_trigger_ticket_solved.json", ("requester",), "requester.id"),
    ],
)
def test_a_ticket_without_its_requester_is_rejected(
    name: str, drop: tuple[str, ...], field: str
) -> None:
    body = document(name)
    parent = body[drop[0]] if len(drop) == 2 else body
    del parent[drop[-1]]

    with pytest.raises(PayloadRejected, match=f"^{field}: "):
        adapter.map(signed(json.dumps(body).encode()), HELPDESK)
