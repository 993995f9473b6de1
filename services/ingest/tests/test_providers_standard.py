"""Standard Webhooks: library-verified signatures; canonical and conventional bodies.

The `standardwebhooks` library checks the timestamp against the real clock, which
cannot be injected, so these deliveries are signed at real current times.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_ingest.providers import ADAPTERS, adapter_for
from cxloop_ingest.providers.base import Delivery, PayloadRejected, SignatureRejected
from cxloop_shared.events import Customer, Touchpoint
from providers_support import delivery, document, payload, source

SECRET = "whsec_" + base64.b64encode(b"current-standard-webhooks-key").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"previous-standard-webhooks-key").decode()
PARTNER = source("standard", {"order.shipped": "order_delivered"})
adapter = adapter_for("standard")


def sign(body: bytes, secret: str, msg_id: str, stamp: int) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed(
    body: bytes,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    at: datetime | None = None,
    msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
) -> Delivery:
    moment = at or datetime.now(UTC)
    stamp = int(moment.timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(sign(body, s, msg_id, stamp) for s in secrets),
    }
    return delivery(body, headers, received_at=moment)


def test_canonical_serves_the_same_adapter() -> None:
    assert ADAPTERS["canonical"] is ADAPTERS["standard"]


def test_a_signed_canonical_touchpoint_is_taken_as_it_is() -> None:
    single = signed(payload("standard_touchpoint.json"))

    adapter.verify(single, [SECRET], now=datetime.now(UTC))
    mapped = adapter.map(single, source("canonical"))

    assert list(mapped.touchpoints) == [
        Touchpoint(
            id="ord_1001-completed",
            touchpoint="checkout",
            occurred_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
            customer=Customer(
                id="c-42",
                email="ana@example.com",
                phone="+14155550100",
                locale="en-US",
                timezone="America/New_York",
                preferred_channel="email",
                persona="smb-owner",
            ),
            channel="web",
            attributes={"order_value": 120.5, "currency": "USD"},
        )
    ]


def test_a_batch_keeps_each_items_own_id() -> None:
    batch = signed(payload("standard_batch.json"))

    mapped = adapter.map(batch, PARTNER)

    assert [t.id for t in mapped.touchpoints] == ["ord_1001-completed", "ord_1002-completed"]


def test_a_conventional_event_maps_type_customer_and_scalar_data() -> None:
    shipped = signed(payload("standard_order_shipped.json"))

    adapter.verify(shipped, [SECRET], now=datetime.now(UTC))
    (touchpoint,) = adapter.map(shipped, PARTNER).touchpoints

    assert touchpoint == Touchpoint(
        id="shp_9f8e7d",
        touchpoint="order_delivered",
        occurred_at=datetime(2026, 11, 23, 7, 0, 0, 344522, tzinfo=UTC),
        customer=Customer(
            id="c-42", email="ana@example.com", locale="en-GB", timezone="Europe/London"
        ),
        channel="web",
        attributes={
            "order_id": "ord_1001",
            "carrier": "DHL",
            "parcels": 2,
            "express": True,
            "weight_kg": 1.25,
        },
    )


def test_without_data_id_the_webhook_id_is_the_id() -> None:
    event = document("standard_order_shipped.json")
    del event["data"]["id"]

    (touchpoint,) = adapter.map(signed(json.dumps(event).encode()), PARTNER).touchpoints

    assert touchpoint.id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_a_tampered_body_is_rejected() -> None:
    body = payload("standard_touchpoint.json")
    single = signed(body)
    forged = delivery(body.replace(b"120.5", b"999.9"), single.headers)

    with pytest.raises(SignatureRejected):
        adapter.verify(forged, [SECRET], now=datetime.now(UTC))


def test_a_tampered_message_id_is_rejected() -> None:
    single = signed(payload("standard_touchpoint.json"))
    headers = dict(single.headers) | {"webhook-id": "msg_other"}

    with pytest.raises(SignatureRejected):
        adapter.verify(delivery(single.body, headers), [SECRET], now=datetime.now(UTC))


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    stranger = "whsec_" + base64.b64encode(b"x" * 24).decode()
    single = signed(payload("standard_touchpoint.json"), secrets=(stranger,))

    with pytest.raises(SignatureRejected):
        adapter.verify(single, [SECRET], now=datetime.now(UTC))


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_delivery_missing_a_header_is_rejected(header: str) -> None:
    single = signed(payload("standard_touchpoint.json"))
    headers = {k: v for k, v in single.headers.items() if k != header}

    with pytest.raises(SignatureRejected, match="missing"):
        adapter.verify(delivery(single.body, headers), [SECRET], now=datetime.now(UTC))


def test_malformed_signature_entries_do_not_hide_a_valid_one() -> None:
    single = signed(payload("standard_touchpoint.json"))
    headers = dict(single.headers)
    headers["webhook-signature"] = "v1 v1,%%% v2,abc " + headers["webhook-signature"]

    adapter.verify(delivery(single.body, headers), [SECRET], now=datetime.now(UTC))


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-5, seconds=-10), False),
        (timedelta(minutes=-4, seconds=-50), True),
        (timedelta(minutes=4, seconds=50), True),
        (timedelta(minutes=5, seconds=10), False),
    ],
)
def test_a_signature_is_fresh_for_five_minutes_either_way(
    offset: timedelta, accepted: bool
) -> None:
    now = datetime.now(UTC)
    single = signed(payload("standard_touchpoint.json"), at=now + offset)

    if accepted:
        adapter.verify(single, [SECRET], now=now)
    else:
        with pytest.raises(SignatureRejected):
            adapter.verify(single, [SECRET], now=now)


def test_the_library_checks_the_real_clock_as_well() -> None:
    """Our `now` agrees with the stale stamp, but the library's own clock does not."""
    stale = datetime.now(UTC) - timedelta(minutes=10)
    single = signed(payload("standard_touchpoint.json"), at=stale)

    with pytest.raises(SignatureRejected):
        adapter.verify(single, [SECRET], now=stale)


def test_during_rotation_either_secret_verifies_and_a_removed_one_does_not() -> None:
    body = payload("standard_touchpoint.json")
    now = datetime.now(UTC)

    adapter.verify(signed(body, secrets=(SECRET,)), [OLD_SECRET, SECRET], now=now)
    adapter.verify(signed(body, secrets=(OLD_SECRET, SECRET)), [SECRET], now=now)
    with pytest.raises(SignatureRejected):
        adapter.verify(signed(body, secrets=(OLD_SECRET,)), [SECRET], now=now)


def test_a_secret_that_is_not_base64_never_verifies() -> None:
    single = signed(payload("standard_touchpoint.json"))

    with pytest.raises(SignatureRejected):
        adapter.verify(single, ["whsec_***", "", "plain"], now=datetime.now(UTC))


def test_an_unmapped_event_type_is_ignored() -> None:
    event = document("standard_order_shipped.json") | {"type": "order.packed"}

    mapped = adapter.map(signed(json.dumps(event).encode()), PARTNER)

    assert (mapped.touchpoints, mapped.ignored) == ((), "order.packed")


def test_a_conventional_event_without_a_customer_is_rejected() -> None:
    event = document("standard_order_shipped.json")
    del event["data"]["customer"]

    with pytest.raises(PayloadRejected, match=r"^data\.customer\.id: "):
        adapter.map(signed(json.dumps(event).encode()), PARTNER)


def test_a_canonical_item_without_a_customer_is_rejected_by_field() -> None:
    batch = document("standard_batch.json")
    del batch["events"][1]["customer"]

    with pytest.raises(PayloadRejected, match=r"events\.1\.customer: Field required"):
        adapter.map(signed(json.dumps(batch).encode()), PARTNER)


@pytest.mark.parametrize("body", [b"", b"[1, 2]", b"{not json", b'{"events": []}'])
def test_bodies_that_hold_no_touchpoint_are_rejected(body: bytes) -> None:
    with pytest.raises(PayloadRejected):
        adapter.map(signed(body), PARTNER)
