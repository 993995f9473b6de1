"""Twilio: the URL-and-parameters signature, and Flex TaskRouter events as touchpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from cxloop_ingest.providers import adapter_for
from cxloop_ingest.providers.base import Delivery, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.twilio import twilio_signature_valid
from cxloop_shared.events import Customer, Touchpoint
from providers_support import NOW, delivery, document, source

TOKEN = "twilio-auth-token-current"
OLD_TOKEN = "twilio-auth-token-old"
URL = "https://cx.example.com/v1/webhooks/acme:flex"
FLEX = source("twilio_flex", {"task.completed": "contact_ended"})
adapter = adapter_for("twilio_flex")


def sign(url: str, params: dict[str, str], token: str) -> str:
    text = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed(params: dict[str, str], *, token: str = TOKEN, url: str = URL) -> Delivery:
    headers = {
        "X-Twilio-Signature": sign(url, params, token),
        "Content-Type": "application/x-www-form-urlencoded",
        "I-Twilio-Idempotency-Token": "c5b0f4a6-2b1d-4c3e-9f8a-7d6e5c4b3a21",
    }
    return delivery(urlencode(params).encode(), headers, url=url)


def task_completed(**changes: str) -> dict[str, str]:
    params: dict[str, str] = document("twilio_flex_task_completed.json")
    return params | changes


def test_a_completed_task_becomes_a_contact_ended_touchpoint() -> None:
    event = signed(task_completed())

    adapter.verify(event, [TOKEN], now=NOW)
    mapped = adapter.map(event, FLEX)

    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="EV8c2a4d1f0e9b7c6a5d4e3f2a1b0c9d8e",
            touchpoint="contact_ended",
            occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            customer=Customer(id="c-42", email="ana@example.com", phone="+14155550100"),
            channel="voice",
            attributes={
                "channel": "voice",
                "agent": "priya.raman",
                "queue": "Billing",
                "handle_time_seconds": 642,
                "task_sid": "WT5c1b1b5b8a4a0f23e0b0c7b1d2e3f4a5",
                "reason": "Task has been completed",
            },
        )
    ]


def test_a_messaging_task_is_identified_by_its_sender() -> None:
    attributes = {"from": "whatsapp:+819012345678", "channelType": "whatsapp", "name": "Kenji"}
    event = signed(
        task_completed(TaskAttributes=json.dumps(attributes), TaskChannelUniqueName="chat")
    )

    (touchpoint,) = adapter.map(event, FLEX).touchpoints

    assert touchpoint.customer == Customer(id="+819012345678", phone="+819012345678")
    assert touchpoint.channel == "chat"


def test_a_tampered_parameter_is_rejected() -> None:
    event = signed(task_completed())
    forged_body = urlencode(task_completed(WorkerName="someone.else")).encode()

    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(forged_body, event.headers, url=URL), [TOKEN], now=NOW)


def test_a_different_url_is_rejected() -> None:
    event = signed(task_completed())

    with pytest.raises(SignatureRejected):
        adapter.verify(
            delivery(event.body, event.headers, url=URL.replace("acme", "evil")), [TOKEN], now=NOW
        )


def test_a_delivery_signed_with_another_token_is_rejected() -> None:
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(task_completed(), token="not-the-token"), [TOKEN], now=NOW)


def test_a_delivery_without_a_signature_is_rejected() -> None:
    event = signed(task_completed())
    headers = {k: v for k, v in event.headers.items() if k != "x-twilio-signature"}

    with pytest.raises(SignatureRejected, match="X-Twilio-Signature"):
        adapter.verify(delivery(event.body, headers, url=URL), [TOKEN], now=NOW)


def test_during_rotation_either_token_verifies_and_a_removed_one_does_not() -> None:
    adapter.verify(signed(task_completed(), token=TOKEN), [OLD_TOKEN, TOKEN], now=NOW)
    adapter.verify(signed(task_completed(), token=OLD_TOKEN), [OLD_TOKEN, TOKEN], now=NOW)
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(task_completed(), token=OLD_TOKEN), [TOKEN], now=NOW)


def test_the_scheme_signs_no_timestamp_so_any_age_verifies() -> None:
    """Replays are stopped by the dedupe on the event Sid, not by time."""
    event = signed(task_completed(Timestamp="1500000000"))

    adapter.verify(event, [TOKEN], now=NOW)


@pytest.mark.parametrize(
    ("signed_url", "called_url"),
    [
        ("https://cx.example.com:443/sms?x=1", "https://cx.example.com/sms?x=1"),
        ("https://cx.example.com/sms?x=1", "https://cx.example.com:443/sms?x=1"),
        ("http://cx.example.com:80/sms", "http://cx.example.com/sms"),
        ("https://cx.example.com/sms", "https://cx.example.com:8443/sms"),
    ],
)
def test_the_url_verifies_with_and_without_the_default_port(
    signed_url: str, called_url: str
) -> None:
    params = {"From": "+14155550100", "Body": "9", "MessageSid": "SM123"}

    assert twilio_signature_valid(
        url=called_url,
        params=list(params.items()),
        signature=sign(signed_url, params, TOKEN),
        secrets=[TOKEN],
    )


def test_repeated_parameters_are_signed_in_sorted_order() -> None:
    pairs = [("To", "+18005550199"), ("MediaUrl", "b"), ("MediaUrl", "a")]
    text = URL + "MediaUrla" + "MediaUrlb" + "To+18005550199"
    signature = base64.b64encode(
        hmac.new(TOKEN.encode(), text.encode(), hashlib.sha1).digest()
    ).decode()

    assert twilio_signature_valid(url=URL, params=pairs, signature=signature, secrets=[TOKEN])
    assert not twilio_signature_valid(
        url=URL, params=pairs[:2], signature=signature, secrets=[TOKEN]
    )


def test_a_json_body_is_verified_by_the_url_and_its_hash() -> None:
    body = json.dumps(task_completed()).encode()
    url = f"{URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    event = delivery(body, {"X-Twilio-Signature": sign(url, {}, TOKEN)}, url=url)

    adapter.verify(event, [TOKEN], now=NOW)
    (touchpoint,) = adapter.map(event, FLEX).touchpoints
    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(body + b" ", event.headers, url=url), [TOKEN], now=NOW)

    assert touchpoint.id == "EV8c2a4d1f0e9b7c6a5d4e3f2a1b0c9d8e"


def test_an_unmapped_event_type_is_ignored() -> None:
    mapped = adapter.map(signed(task_completed(EventType="reservation.created")), FLEX)

    assert (mapped.touchpoints, mapped.ignored) == ((), "reservation.created")


def test_a_task_whose_customer_cannot_be_identified_is_rejected() -> None:
    attributes = {"channelType": "web", "conversations": {"conversation_id": "WT1"}}
    event = signed(task_completed(TaskAttributes=json.dumps(attributes)))

    with pytest.raises(PayloadRejected, match=r"^TaskAttributes\.customers\.external_id: "):
        adapter.map(event, FLEX)


def test_task_attributes_that_are_not_json_are_rejected() -> None:
    with pytest.raises(PayloadRejected, match="TaskAttributes"):
        adapter.map(signed(task_completed(TaskAttributes="{oops")), FLEX)
