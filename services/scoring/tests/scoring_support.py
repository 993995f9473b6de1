"""Helpers of the scoring tests: events as the consumers would deliver them, workspace
configurations with alert rules and endpoints, and Standard Webhooks checked by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import count
from typing import Any

from cxloop_shared.events import (
    Customer,
    CxEvent,
    InvitationChanged,
    InvitationStatus,
    ResponseRecorded,
    Touchpoint,
    TouchpointReceived,
)
from cxloop_shared.kafka import Delivery
from cxloop_shared.topics import INVITATIONS, RESPONSES, TOUCHPOINTS

INTERNAL_TOKEN = "test-internal-token"
BEARER = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
ENDPOINT_SECRET = "whsec_" + base64.b64encode(b"scoring endpoint secret for tests").decode()
DETRACTORS = "nps <= 6 or csat <= 2"

_offsets = count()
_TOPICS = {InvitationChanged: INVITATIONS, TouchpointReceived: TOUCHPOINTS}


def response(workspace_id: str, response_id: str, score: int, **fields: Any) -> ResponseRecorded:
    """A ResponseRecorded event: an NPS answer at checkout on the web at T0 unless told."""
    defaults: dict[str, Any] = {
        "customer_id": f"c-{response_id}",
        "touchpoint": "checkout",
        "metric": "nps",
        "channel": "web",
        "answered_at": T0,
        "collected_via": "link",
    }
    return ResponseRecorded(
        workspace_id=workspace_id,
        response_id=response_id,
        score=score,
        **{**defaults, **fields},
    )


def deliveries(events: Iterable[CxEvent]) -> list[Delivery]:
    """The events as a consumer would hand them to the handler."""
    return [
        Delivery(
            topic=_TOPICS.get(type(event), RESPONSES),
            partition=0,
            offset=next(_offsets),
            event=event,
            headers=[],
        )
        for event in events
    ]


def invitation(
    workspace_id: str, invitation_id: uuid.UUID, status: InvitationStatus = "sent", **fields: Any
) -> InvitationChanged:
    """An InvitationChanged event: a checkout NPS invitation by email at T0 unless told."""
    defaults: dict[str, Any] = {
        "event_id": f"evt-{invitation_id}",
        "source": "shop",
        "touchpoint": "checkout",
        "customer_id": "c-1",
        "metric": "nps",
        "channel": "email",
        "changed_at": T0,
    }
    return InvitationChanged(
        workspace_id=workspace_id,
        invitation_id=invitation_id,
        status=status,
        **{**defaults, **fields},
    )


def touchpoint(
    workspace_id: str, event_id: str, attributes: dict[str, Any], **fields: Any
) -> TouchpointReceived:
    """A TouchpointReceived event from source `shop`: a checkout of customer c-1 at T0."""
    customer = Customer(id=fields.pop("customer_id", "c-1"), email="ana@example.com")
    defaults: dict[str, Any] = {"touchpoint": "checkout", "occurred_at": T0, "channel": "web"}
    return TouchpointReceived(
        workspace_id=workspace_id,
        source=fields.pop("source", "shop"),
        received_at=T0,
        event=Touchpoint(
            id=event_id, customer=customer, attributes=attributes, **{**defaults, **fields}
        ),
    )


def endpoint(url: str, *events: str) -> dict[str, Any]:
    """An endpoint configuration, signed with the tests' secret."""
    return {"url": url, "secret": ENDPOINT_SECRET, "events": list(events) or ["alert.created"]}


def signature_valid(headers: dict[str, str], body: bytes, *, secret: str = ENDPOINT_SECRET) -> bool:
    """Standard Webhooks verification written from the spec with the stdlib alone:
    base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under the base64-decoded key."""
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    entries = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(entry, f"v1,{expected}") for entry in entries)
