"""Shopify: the body HMAC, and orders (and refunds) mapped onto touchpoints."""

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

SECRET = "shpss_current_app_secret"
OLD_SECRET = "shpss_old_app_secret"
SHOP = source("shopify", {"orders/create": "checkout", "refunds/create": "refund"})
adapter = adapter_for("shopify")


def signed(
    body: bytes, *, secret: str = SECRET, topic: str = "orders/create", **extra: str
) -> Delivery:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    headers = {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "acme-apparel.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": "b7504392-2461-4993-848c-1b59c87c8a87",
        "X-Shopify-Event-Id": "59d6d79c-595f-4e7e-bc6f-72f5c3d0c66f",
        "X-Shopify-Triggered-At": "2026-11-23T06:58:13.234647458Z",
        **extra,
    }
    return delivery(body, headers)


def test_a_signed_order_becomes_a_checkout_touchpoint() -> None:
    order = signed(payload("shopify_orders_create.json"))

    adapter.verify(order, [SECRET], now=NOW)
    mapped = adapter.map(order, SHOP)

    assert mapped.ignored is None
    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="orders/create:59d6d79c-595f-4e7e-bc6f-72f5c3d0c66f",
            touchpoint="checkout",
            occurred_at=datetime(2026, 11, 23, 6, 58, 12, tzinfo=UTC),
            customer=Customer(
                id="7205830557910",
                email="ana.silva@example.com",
                phone="+14155550100",
                locale="en-US",
            ),
            channel="web",
            attributes={
                "order_id": 5590760685782,
                "order_number": 1001,
                "order_name": "#1001",
                "order_value": 120.5,
                "currency": "USD",
            },
        )
    ]


def test_a_tampered_body_is_rejected() -> None:
    body = payload("shopify_orders_create.json")
    order = signed(body)
    forged = delivery(body.replace(b'"120.50"', b'"1.00"'), order.headers)

    with pytest.raises(SignatureRejected):
        adapter.verify(forged, [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    order = signed(payload("shopify_orders_create.json"), secret="someone-elses-secret")

    with pytest.raises(SignatureRejected):
        adapter.verify(order, [SECRET], now=NOW)


def test_a_delivery_without_the_hmac_header_is_rejected() -> None:
    order = signed(payload("shopify_orders_create.json"))
    headers = {k: v for k, v in order.headers.items() if k != "x-shopify-hmac-sha256"}

    with pytest.raises(SignatureRejected, match="X-Shopify-Hmac-Sha256"):
        adapter.verify(delivery(order.body, headers), [SECRET], now=NOW)


def test_a_signature_that_is_not_base64_is_rejected() -> None:
    order = signed(payload("shopify_orders_create.json"), **{"X-Shopify-Hmac-Sha256": "n0t b64!"})

    with pytest.raises(SignatureRejected):
        adapter.verify(order, [SECRET], now=NOW)


def test_during_rotation_both_secrets_verify_and_a_removed_one_does_not() -> None:
    body = payload("shopify_orders_create.json")

    adapter.verify(signed(body, secret=SECRET), [OLD_SECRET, SECRET], now=NOW)
    adapter.verify(signed(body, secret=OLD_SECRET), [OLD_SECRET, SECRET], now=NOW)
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(body, secret=OLD_SECRET), [SECRET], now=NOW)


def triggered(offset: timedelta) -> Delivery:
    stamp = (NOW + offset).isoformat().replace("+00:00", "Z")
    return signed(payload("shopify_orders_create.json"), **{"X-Shopify-Triggered-At": stamp})


@pytest.mark.parametrize(
    "offset", [timedelta(hours=-4), timedelta(hours=-47), timedelta(minutes=-6), timedelta(0)]
)
def test_triggered_at_does_not_refuse_a_retry(offset: timedelta) -> None:
    """Shopify retries for hours with the original, unsigned X-Shopify-Triggered-At."""
    adapter.verify(triggered(offset), [SECRET], now=NOW)


@pytest.mark.parametrize(
    "offset", [timedelta(hours=-49), timedelta(days=-30), timedelta(minutes=6), timedelta(hours=1)]
)
def test_a_stale_or_future_trigger_time_is_refused(offset: timedelta) -> None:
    with pytest.raises(SignatureRejected):
        adapter.verify(triggered(offset), [SECRET], now=NOW)


def test_an_unmapped_topic_is_ignored() -> None:
    order = signed(payload("shopify_orders_create.json"), topic="orders/paid")

    mapped = adapter.map(order, SHOP)

    assert mapped.touchpoints == ()
    assert mapped.ignored == "orders/paid"


def test_a_refund_names_no_customer_and_is_rejected_by_field() -> None:
    """Shopify's refunds/create payload carries the order id but no customer."""
    refund = signed(payload("shopify_refunds_create.json"), topic="refunds/create")

    with pytest.raises(PayloadRejected, match=r"^customer\.id: "):
        adapter.map(refund, SHOP)


def test_a_refund_with_its_customer_maps_the_refunded_amount() -> None:
    resource = document("shopify_refunds_create.json") | {"customer": {"id": 7205830557910}}
    refund = signed(json.dumps(resource).encode(), topic="refunds/create")

    (touchpoint,) = adapter.map(refund, SHOP).touchpoints

    assert touchpoint.touchpoint == "refund"
    assert touchpoint.occurred_at == datetime(2026, 11, 25, 14, 12, 40, tzinfo=UTC)
    assert touchpoint.attributes == {
        "order_id": 5590760685782,
        "refund_id": 929361464,
        "refund_amount": 57.75,
        "currency": "USD",
    }


def test_a_malformed_email_is_dropped_and_the_touchpoint_kept() -> None:
    order = document("shopify_orders_create.json")
    order["customer"]["email"] = "ana.silva@"
    order["email"] = order["contact_email"] = "not an email"
    order["customer"]["phone"] = "415-555-0100"

    (touchpoint,) = adapter.map(signed(json.dumps(order).encode()), SHOP).touchpoints

    assert touchpoint.customer == Customer(id="7205830557910", locale="en-US")


def test_a_guest_checkout_is_identified_by_email() -> None:
    order = document("shopify_orders_create.json")
    del order["customer"]

    (touchpoint,) = adapter.map(signed(json.dumps(order).encode()), SHOP).touchpoints

    assert touchpoint.customer == Customer(
        id="ana.silva@example.com", email="ana.silva@example.com", locale="en-US"
    )


def test_an_order_without_any_customer_is_rejected() -> None:
    order = document("shopify_orders_create.json")
    del order["customer"], order["email"], order["contact_email"]

    with pytest.raises(PayloadRejected, match=r"^customer\.id: "):
        adapter.map(signed(json.dumps(order).encode()), SHOP)


def test_the_webhook_id_stands_in_for_a_missing_event_id() -> None:
    order = signed(payload("shopify_orders_create.json"))
    headers = {k: v for k, v in order.headers.items() if k != "x-shopify-event-id"}

    (touchpoint,) = adapter.map(delivery(order.body, headers), SHOP).touchpoints

    assert touchpoint.id == "orders/create:b7504392-2461-4993-848c-1b59c87c8a87"


def test_a_body_that_is_not_json_is_rejected() -> None:
    with pytest.raises(PayloadRejected, match="not valid JSON"):
        adapter.map(signed(b"<order/>"), SHOP)
