"""Custom sources: the declared mapping's validation, signature scheme and payload mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cxloop_ingest.providers import adapter_for
from cxloop_ingest.providers.base import Adapter, Delivery, PayloadRejected, SignatureRejected
from cxloop_shared.events import Customer, Touchpoint
from cxloop_shared.mapping import CustomMapping
from providers_support import NOW, delivery, document, payload, source
from pydantic import ValidationError

SECRET = "custom-secret-current"
OLD_SECRET = "custom-secret-old"
MAPPING: dict[str, Any] = {
    "id": "event.uuid",
    "type": "event.name",
    "occurred_at": "event.at",
    "customer": {
        "id": "recipient.account_ref",
        "email": "recipient.contact.email",
        "phone": "recipient.contact.mobile",
        "locale": "recipient.language",
    },
    "channel": "'courier'",
    "attributes": {
        "delivery_ref": "delivery.reference",
        "late_minutes": "delivery.late_minutes",
        "signed_for": "delivery.signed_for",
        "stops": "length(delivery.stops)",
        "driver": "delivery.driver",
    },
    "signature": {
        "header": "X-Courier-Signature",
        "algorithm": "sha256",
        "encoding": "hex",
        "prefix": "sha256=",
        "signed": "timestamp.body",
        "timestamp_header": "X-Courier-Timestamp",
    },
}
COURIER = source("custom", {"delivery.completed": "order_delivered"}, mapping=MAPPING)


def bound(mapping: dict[str, Any] = MAPPING) -> Adapter:
    return adapter_for("custom", mapping=mapping)


def signed(body: bytes, *, secret: str = SECRET, at: datetime = NOW) -> Delivery:
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return delivery(body, {"X-Courier-Signature": f"sha256={digest}", "X-Courier-Timestamp": stamp})


def test_a_signed_delivery_maps_through_the_declared_expressions() -> None:
    completed = signed(payload("custom_delivery_completed.json"))

    bound().verify(completed, [SECRET], now=NOW)
    mapped = bound().map(completed, COURIER)

    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="9b1f3c2e-6d4a-4e8b-a1f0-7c3d2b1a0e9f",
            touchpoint="order_delivered",
            occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            customer=Customer(
                id="c-42", email="ana@example.com", phone="+447700900123", locale="en-GB"
            ),
            channel="courier",
            attributes={
                "delivery_ref": "DLV-88213",
                "late_minutes": 12,
                "signed_for": True,
                "stops": 2,
            },
        )
    ]


def test_a_fixed_touchpoint_and_a_body_only_base64_sha512_scheme() -> None:
    mapping = {k: v for k, v in MAPPING.items() if k not in ("type", "occurred_at")} | {
        "touchpoint": "order_delivered",
        "signature": {"header": "X-Signature", "algorithm": "sha512", "encoding": "base64"},
    }
    body = payload("custom_delivery_completed.json")
    digest = hmac.new(SECRET.encode(), body, hashlib.sha512).digest()
    completed = delivery(body, {"X-Signature": base64.b64encode(digest).decode()})
    courier = source("custom", mapping=mapping)

    bound(mapping).verify(completed, [SECRET], now=NOW)
    (touchpoint,) = bound(mapping).map(completed, courier).touchpoints

    assert touchpoint.touchpoint == "order_delivered"
    assert touchpoint.occurred_at == NOW, "the time of receipt without occurred_at"


def test_an_already_built_mapping_is_accepted() -> None:
    built = CustomMapping.model_validate(MAPPING)
    courier = COURIER.model_copy(update={"mapping": built})
    completed = signed(payload("custom_delivery_completed.json"))

    adapter_for("custom", mapping=built).verify(completed, [SECRET], now=NOW)
    (touchpoint,) = adapter_for("custom").map(completed, courier).touchpoints

    assert touchpoint.id == "9b1f3c2e-6d4a-4e8b-a1f0-7c3d2b1a0e9f"


def test_the_unbound_adapter_refuses_every_signature() -> None:
    with pytest.raises(SignatureRejected, match="mapping"):
        adapter_for("custom").verify(
            signed(payload("custom_delivery_completed.json")), [SECRET], now=NOW
        )


def test_a_tampered_body_is_rejected() -> None:
    body = payload("custom_delivery_completed.json")
    completed = signed(body)
    forged = delivery(body.replace(b'"late_minutes": 12', b'"late_minutes": 0'), completed.headers)

    with pytest.raises(SignatureRejected):
        bound().verify(forged, [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    with pytest.raises(SignatureRejected):
        bound().verify(
            signed(payload("custom_delivery_completed.json"), secret="x"), [SECRET], now=NOW
        )


@pytest.mark.parametrize("header", ["x-courier-signature", "x-courier-timestamp"])
def test_a_delivery_missing_a_signature_header_is_rejected(header: str) -> None:
    completed = signed(payload("custom_delivery_completed.json"))
    headers = {k: v for k, v in completed.headers.items() if k != header}

    with pytest.raises(SignatureRejected, match="missing"):
        bound().verify(delivery(completed.body, headers), [SECRET], now=NOW)


def test_a_signature_without_the_declared_prefix_is_rejected() -> None:
    completed = signed(payload("custom_delivery_completed.json"))
    headers = dict(completed.headers)
    headers["x-courier-signature"] = headers["x-courier-signature"].removeprefix("sha256=")

    with pytest.raises(SignatureRejected, match="prefix"):
        bound().verify(delivery(completed.body, headers), [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-5, seconds=-6), False),
        (timedelta(minutes=-4, seconds=-55), True),
        (timedelta(minutes=4, seconds=55), True),
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_a_signed_timestamp_is_fresh_for_five_minutes_either_way(
    offset: timedelta, accepted: bool
) -> None:
    completed = signed(payload("custom_delivery_completed.json"), at=NOW + offset)

    if accepted:
        bound().verify(completed, [SECRET], now=NOW)
    else:
        with pytest.raises(SignatureRejected, match="tolerance"):
            bound().verify(completed, [SECRET], now=NOW)


def test_during_rotation_either_secret_verifies_and_a_removed_one_does_not() -> None:
    body = payload("custom_delivery_completed.json")

    bound().verify(signed(body, secret=SECRET), [OLD_SECRET, SECRET], now=NOW)
    bound().verify(signed(body, secret=OLD_SECRET), [OLD_SECRET, SECRET], now=NOW)
    with pytest.raises(SignatureRejected):
        bound().verify(signed(body, secret=OLD_SECRET), [SECRET], now=NOW)


def test_an_unmapped_event_type_is_ignored() -> None:
    event = document("custom_delivery_completed.json")
    event["event"]["name"] = "delivery.attempted"

    mapped = bound().map(signed(json.dumps(event).encode()), COURIER)

    assert (mapped.touchpoints, mapped.ignored) == ((), "delivery.attempted")


def test_a_delivery_without_the_customer_is_rejected() -> None:
    event = document("custom_delivery_completed.json")
    del event["recipient"]["account_ref"]

    with pytest.raises(PayloadRejected, match=r"^customer\.id: "):
        bound().map(signed(json.dumps(event).encode()), COURIER)


def test_an_occurred_at_that_is_not_a_time_is_rejected() -> None:
    event = document("custom_delivery_completed.json")
    event["event"]["at"] = "yesterday"

    with pytest.raises(PayloadRejected, match=r"^occurred_at: "):
        bound().map(signed(json.dumps(event).encode()), COURIER)


def test_an_expression_failing_on_the_data_is_rejected_by_field() -> None:
    event = document("custom_delivery_completed.json")
    event["delivery"]["stops"] = 7

    with pytest.raises(PayloadRejected, match=r"^attributes\.stops: "):
        bound().map(signed(json.dumps(event).encode()), COURIER)


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"id": "event.[uuid"}, "id"),
        ({"customer": {"id": "recipient.", "email": "x"}}, "customer.id"),
        ({"attributes": {"late": "delivery..late"}}, "attributes.late"),
        ({"attributes": {"late": "lenght(delivery.stops)"}}, "attributes.late"),
        ({"channel": ""}, "channel"),
    ],
)
def test_a_bad_expression_fails_validation_naming_its_field(
    change: dict[str, Any], location: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        CustomMapping.model_validate(MAPPING | change)

    locations = [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()]
    assert locations == [location]


@pytest.mark.parametrize(
    "change",
    [
        {"touchpoint": "order_delivered"},
        {"type": None},
        {"signature": {"header": "X-Sig", "signed": "timestamp+body"}},
        {"signature": {"header": "X Sig"}},
        {"attributes": {"bad key": "delivery.reference"}},
        {"unknown": "x"},
    ],
)
def test_an_inconsistent_mapping_fails_validation(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CustomMapping.model_validate(MAPPING | change)


def test_an_invalid_mapping_is_refused_by_the_configuration_and_by_the_adapter() -> None:
    broken = MAPPING | {"id": "event.[uuid"}
    completed = signed(payload("custom_delivery_completed.json"))

    with pytest.raises(ValidationError, match=r"mapping\.id"):
        source("custom", {}, mapping=broken)
    with pytest.raises(SignatureRejected):
        bound(broken).verify(completed, [SECRET], now=NOW)
