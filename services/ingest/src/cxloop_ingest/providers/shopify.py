"""Shopify webhooks: orders created and fulfilled, refunds.

Shopify signs the raw body: `X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(app
secret, body)); the topic (`orders/create`) is in `X-Shopify-Topic`.

Staleness: `X-Shopify-Triggered-At` keeps the time of the original trigger on every
retry, and Shopify retries 8 times over 4 hours, so a 5-minute rule (as for Stripe)
would refuse every genuine retry after a short outage. A delivery triggered more
than `MAX_AGE` ago (well past Shopify's last retry) or more than 5 minutes in the
future is refused as stale; a missing header is allowed. The header is not covered
by the HMAC, so this guards against replays of old captures, not against forgery;
replays inside the window are caught by the dedupe on the event id.

The touchpoint id is `<topic>:<X-Shopify-Event-Id>`: Shopify shares an event id
between the deliveries of one merchant action, which may span topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Customer, JsonScalar

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import (
    TOLERANCE,
    decode_signature,
    header,
    parse_stamp,
    require_header,
    signed_by_any,
)

# Past Shopify's retry schedule (8 retries over 4 hours), with room for clock trouble.
MAX_AGE = timedelta(hours=48)


class ShopifyAdapter:
    """Shopify's HMAC on the body; an order (or refund) becomes one touchpoint."""

    kind = "shopify"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        signature = decode_signature(require_header(delivery, "X-Shopify-Hmac-Sha256"), "base64")
        if not signed_by_any(secrets, delivery.body, [signature]):
            raise SignatureRejected("X-Shopify-Hmac-Sha256 does not match the body")
        triggered = header(delivery, "X-Shopify-Triggered-At")
        if triggered is not None:
            at = parse_stamp(triggered)
            if at > now + TOLERANCE or at < now - MAX_AGE:
                raise SignatureRejected("X-Shopify-Triggered-At is stale or in the future")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        topic = header(delivery, "X-Shopify-Topic")
        if topic is None:
            raise PayloadRejected("X-Shopify-Topic header missing")
        touchpoint_key = source.touchpoints.get(topic)
        if touchpoint_key is None:
            return Mapped(ignored=topic)
        event_id = header(delivery, "X-Shopify-Event-Id") or header(
            delivery, "X-Shopify-Webhook-Id"
        )
        if event_id is None:
            raise PayloadRejected("X-Shopify-Event-Id header missing")
        resource = common.parse_json(delivery.body)
        occurred_at = (
            _occurred_at(topic, resource)
            or common.parse_time(header(delivery, "X-Shopify-Triggered-At"))
            or delivery.received_at
        )
        touchpoint = common.touchpoint(
            event_id=f"{topic}:{event_id}",
            touchpoint_key=touchpoint_key,
            occurred_at=occurred_at,
            customer=_customer(resource),
            channel=common.key(resource.get("source_name")),
            attributes=_attributes(topic, resource),
        )
        return Mapped(touchpoints=(touchpoint,))


def _customer(resource: dict[str, Any]) -> Customer:
    buyer = common.obj(resource.get("customer"))
    email = common.first(buyer.get("email"), resource.get("email"), resource.get("contact_email"))
    return common.customer(
        common.first(buyer.get("id"), email),
        field="customer.id",
        email=email,
        phone=common.first(buyer.get("phone"), resource.get("phone")),
        locale=resource.get("customer_locale"),
    )


def _occurred_at(topic: str, resource: dict[str, Any]) -> datetime | None:
    if topic == "orders/fulfilled":
        fulfillments = [common.obj(f) for f in resource.get("fulfillments") or []]
        latest = [f.get("updated_at") or f.get("created_at") for f in fulfillments]
        return common.first_time(*reversed(latest), resource.get("updated_at"))
    if topic.startswith("refunds/"):
        return common.first_time(resource.get("processed_at"), resource.get("created_at"))
    if topic == "orders/create":
        return common.first_time(resource.get("created_at"), resource.get("processed_at"))
    return common.first_time(resource.get("updated_at"), resource.get("created_at"))


def _attributes(topic: str, resource: dict[str, Any]) -> dict[str, JsonScalar]:
    if topic.startswith("refunds/"):
        refunds = [
            common.obj(t)
            for t in resource.get("transactions") or []
            if common.obj(t).get("kind") == "refund" and common.obj(t).get("status") != "failure"
        ]
        amounts = [common.number(t.get("amount")) for t in refunds]
        return common.attributes(
            {
                "order_id": resource.get("order_id"),
                "refund_id": resource.get("id"),
                "refund_amount": sum(a for a in amounts if a is not None) if refunds else None,
                "currency": common.first(*(t.get("currency") for t in refunds)),
            }
        )
    return common.attributes(
        {
            "order_id": resource.get("id"),
            "order_number": resource.get("order_number"),
            "order_name": resource.get("name"),
            "order_value": common.number(resource.get("total_price")),
            "currency": resource.get("currency"),
        }
    )
