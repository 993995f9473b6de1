"""Stripe webhooks: invoices paid, checkouts completed, charges refunded.

`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` signs `"<t>." + raw body` with
HMAC-SHA256 keyed by the endpoint's `whsec_…` secret (the whole string). Stripe
re-signs every retry, so `t` must be within 5 minutes of now; several `v1` entries
appear while Stripe rolls a secret, and any of them may match any configured secret.
`v0` entries are test-mode signatures and are never accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Customer, JsonScalar

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import (
    decode_signature,
    parse_stamp,
    require_fresh,
    require_header,
    signed_by_any,
)

# Minor units per major unit where it is not 100 (Stripe's zero- and three-decimal lists).
_ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
_THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
_ID_ATTRIBUTE = {
    "invoice": "invoice_id",
    "checkout.session": "session_id",
    "charge": "charge_id",
    "payment_intent": "payment_intent_id",
}


class StripeAdapter:
    """Stripe's timestamped HMAC; the event's `data.object` becomes one touchpoint."""

    kind = "stripe"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        stamp, signatures = _parse_header(require_header(delivery, "Stripe-Signature"))
        require_fresh(parse_stamp(stamp), now)
        signed = f"{stamp}.".encode() + delivery.body
        if not signed_by_any(secrets, signed, [decode_signature(s, "hex") for s in signatures]):
            raise SignatureRejected("no v1 signature in Stripe-Signature matches")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        event = common.parse_json(delivery.body)
        event_type = common.text(event.get("type"))
        if event_type is None:
            raise PayloadRejected("type: missing")
        touchpoint_key = source.touchpoints.get(event_type)
        if touchpoint_key is None:
            return Mapped(ignored=event_type)
        paid = common.obj(common.obj(event.get("data")).get("object"))
        touchpoint = common.touchpoint(
            event_id=event.get("id"),
            touchpoint_key=touchpoint_key,
            occurred_at=common.parse_time(event.get("created")) or delivery.received_at,
            customer=_customer(paid),
            attributes=_attributes(event_type, paid),
        )
        return Mapped(touchpoints=(touchpoint,))


def _parse_header(value: str) -> tuple[str, list[str]]:
    stamp: str | None = None
    signatures: list[str] = []
    for item in value.split(","):
        name, _, content = item.strip().partition("=")
        if name == "t":
            stamp = content
        elif name == "v1":
            signatures.append(content)
    if stamp is None or not signatures:
        raise SignatureRejected("Stripe-Signature lacks t= or v1=")
    return stamp, signatures


def _customer(paid: dict[str, Any]) -> Customer:
    details = common.obj(paid.get("customer_details"))
    billing = common.obj(paid.get("billing_details"))
    email = common.first(
        details.get("email"),
        paid.get("customer_email"),
        billing.get("email"),
        paid.get("receipt_email"),
    )
    customer_ref = paid.get("customer")
    customer_id = common.obj(customer_ref).get("id") if isinstance(customer_ref, dict) else None
    locale = common.text(paid.get("locale"))
    return common.customer(
        common.first(customer_id, customer_ref, email),
        field="data.object.customer",
        email=email,
        phone=common.first(details.get("phone"), paid.get("customer_phone"), billing.get("phone")),
        locale=None if locale == "auto" else locale,
    )


def _attributes(event_type: str, paid: dict[str, Any]) -> dict[str, JsonScalar]:
    if event_type == "charge.refunded":
        minor = paid.get("amount_refunded")
    elif paid.get("object") == "invoice":
        minor = paid.get("amount_paid")
    elif paid.get("object") == "checkout.session":
        minor = paid.get("amount_total")
    else:
        minor = paid.get("amount_received", paid.get("amount"))
    currency = common.text(paid.get("currency"))
    amount_minor = minor if isinstance(minor, int) and not isinstance(minor, bool) else None
    id_attribute = _ID_ATTRIBUTE.get(common.text(paid.get("object")) or "", "object_id")
    return common.attributes(
        {
            "amount": _major(amount_minor, currency),
            "amount_minor": amount_minor,
            "currency": currency.upper() if currency else None,
            id_attribute: paid.get("id"),
        }
    )


def _major(amount_minor: int | None, currency: str | None) -> float | None:
    if amount_minor is None or currency is None:
        return None
    if currency.lower() in _ZERO_DECIMAL:
        return float(amount_minor)
    if currency.lower() in _THREE_DECIMAL:
        return amount_minor / 1000
    return amount_minor / 100
