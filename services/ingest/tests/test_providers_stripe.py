"""Stripe: the timestamped signature header, and payment events mapped onto touchpoints."""

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

SECRET = "whsec_stripe_current"
OLD_SECRET = "whsec_stripe_old"
BILLING = source(
    "stripe",
    {
        "invoice.paid": "invoice_paid",
        "checkout.session.completed": "checkout",
        "charge.refunded": "refund",
    },
)
adapter = adapter_for("stripe")


def signature(body: bytes, secret: str, at: datetime) -> str:
    stamp = int(at.timestamp())
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed(body: bytes, *, secrets: tuple[str, ...] = (SECRET,), at: datetime = NOW) -> Delivery:
    entries = ",".join(f"v1={signature(body, secret, at)}" for secret in secrets)
    test_mode = signature(body, "whsec_test_mode", at)
    header = f"t={int(at.timestamp())},{entries},v0={test_mode}"
    return delivery(body, {"Stripe-Signature": header, "Content-Type": "application/json"})


def test_a_paid_invoice_becomes_a_touchpoint() -> None:
    invoice = signed(payload("stripe_invoice_paid.json"))

    adapter.verify(invoice, [SECRET], now=NOW)
    mapped = adapter.map(invoice, BILLING)

    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="evt_1QxR7vLkdIwHu7ixa6G2Ab9c",
            touchpoint="invoice_paid",
            occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            customer=Customer(
                id="cus_RqKs8w2Xy4Ab1C", email="ana.silva@example.com", phone="+14155550100"
            ),
            attributes={
                "amount": 49.0,
                "amount_minor": 4900,
                "currency": "USD",
                "invoice_id": "in_1QxR7sLkdIwHu7ixC3f9Kd21",
            },
        )
    ]


def test_a_guest_checkout_in_yen_keeps_whole_units_and_the_email_as_id() -> None:
    session = signed(payload("stripe_checkout_session_completed.json"))

    adapter.verify(session, [SECRET], now=NOW)
    (touchpoint,) = adapter.map(session, BILLING).touchpoints

    assert touchpoint == Touchpoint(
        id="evt_1QxS2aLkdIwHu7ixPq8Rt4Zw",
        touchpoint="checkout",
        occurred_at=datetime(2026, 11, 23, 7, 1, tzinfo=UTC),
        customer=Customer(
            id="kenji.sato@example.jp", email="kenji.sato@example.jp", phone="+819012345678"
        ),
        attributes={
            "amount": 250000.0,
            "amount_minor": 250000,
            "currency": "JPY",
            "session_id": "cs_test_a1Vb2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St",
        },
    )


def test_a_refunded_charge_reports_the_refunded_amount() -> None:
    (touchpoint,) = adapter.map(signed(payload("stripe_charge_refunded.json")), BILLING).touchpoints

    assert touchpoint.customer == Customer(id="cus_RqKs8w2Xy4Ab1C", email="ana.silva@example.com")
    assert touchpoint.attributes == {
        "amount": 15.0,
        "amount_minor": 1500,
        "currency": "USD",
        "charge_id": "ch_3QxR7tLkdIwHu7ix0Zb1Qm8L",
    }


def test_a_tampered_body_is_rejected() -> None:
    body = payload("stripe_invoice_paid.json")
    invoice = signed(body)
    forged = delivery(body.replace(b'"amount_paid": 4900', b'"amount_paid": 1'), invoice.headers)

    with pytest.raises(SignatureRejected):
        adapter.verify(forged, [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    invoice = signed(payload("stripe_invoice_paid.json"), secrets=("whsec_someone_else",))

    with pytest.raises(SignatureRejected):
        adapter.verify(invoice, [SECRET], now=NOW)


def test_a_test_mode_v0_signature_is_never_accepted() -> None:
    body = payload("stripe_invoice_paid.json")
    header = f"t={int(NOW.timestamp())},v0={signature(body, SECRET, NOW)}"

    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(body, {"Stripe-Signature": header}), [SECRET], now=NOW)


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={int(NOW.timestamp())}", "garbage"])
def test_a_missing_or_incomplete_signature_header_is_rejected(header: str | None) -> None:
    headers = {} if header is None else {"Stripe-Signature": header}

    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(payload("stripe_invoice_paid.json"), headers), [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_a_signature_is_fresh_for_five_minutes_either_way(
    offset: timedelta, accepted: bool
) -> None:
    invoice = signed(payload("stripe_invoice_paid.json"), at=NOW + offset)

    if accepted:
        adapter.verify(invoice, [SECRET], now=NOW)
    else:
        with pytest.raises(SignatureRejected, match="tolerance"):
            adapter.verify(invoice, [SECRET], now=NOW)


def test_during_rotation_either_secret_verifies_and_a_removed_one_does_not() -> None:
    body = payload("stripe_invoice_paid.json")

    adapter.verify(signed(body, secrets=(SECRET,)), [OLD_SECRET, SECRET], now=NOW)
    adapter.verify(signed(body, secrets=(OLD_SECRET, SECRET)), [SECRET], now=NOW)
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(body, secrets=(OLD_SECRET,)), [SECRET], now=NOW)


def test_an_unmapped_event_type_is_ignored() -> None:
    event = document("stripe_invoice_paid.json") | {"type": "invoice.finalized"}

    mapped = adapter.map(signed(json.dumps(event).encode()), BILLING)

    assert (mapped.touchpoints, mapped.ignored) == ((), "invoice.finalized")


def test_an_event_without_any_customer_is_rejected() -> None:
    event = document("stripe_invoice_paid.json")
    paid = event["data"]["object"]
    paid["customer"] = paid["customer_email"] = None

    with pytest.raises(PayloadRejected, match=r"^data\.object\.customer: "):
        adapter.map(signed(json.dumps(event).encode()), BILLING)


def test_an_expanded_customer_object_gives_its_id() -> None:
    event = document("stripe_invoice_paid.json")
    event["data"]["object"]["customer"] = {"id": "cus_RqKs8w2Xy4Ab1C", "object": "customer"}

    (touchpoint,) = adapter.map(signed(json.dumps(event).encode()), BILLING).touchpoints

    assert touchpoint.customer.id == "cus_RqKs8w2Xy4Ab1C"
