"""Helpers of the scoring tests: events as the consumer would deliver them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import count
from typing import Any

from cxloop_shared.events import CxEvent, InvitationChanged, InvitationStatus, ResponseRecorded
from cxloop_shared.kafka import Delivery
from cxloop_shared.topics import INVITATIONS, RESPONSES

INTERNAL_TOKEN = "test-internal-token"
BEARER = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)

_offsets = count()


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
            topic=INVITATIONS if isinstance(event, InvitationChanged) else RESPONSES,
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
