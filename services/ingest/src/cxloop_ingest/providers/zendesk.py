"""Zendesk webhooks: tickets solved or closed, from event subscriptions or triggers.

`X-Zendesk-Webhook-Signature` is base64(HMAC-SHA256(signing secret, timestamp + raw
body)) with the timestamp from `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601,
e.g. 2026-11-23T07:00:00Z), which must be within 5 minutes of now.

Two body shapes arrive:

- An event-subscription webhook, written by Zendesk: `{"type":
  "zen:event-type:ticket.status_changed", "id", "time", "detail": {ticket fields,
  requester_id, …}, "event": {"previous", "current"}}`.
- A trigger or automation webhook, whose JSON body the admin writes. We expect::

    {"type": "ticket.solved",                        (optional, see below)
     "id": "{{ticket.id}}-{{ticket.updated_at_with_timestamp}}",   (optional)
     "ticket": {"id": "{{ticket.id}}", "status": "{{ticket.status}}",
                "via": "{{ticket.via}}", "group": "{{ticket.group.name}}",
                "assignee": "{{ticket.assignee.name}}", "priority": "{{ticket.priority}}",
                "tags": "{{ticket.tags}}", "updated_at": "{{ticket.updated_at_with_timestamp}}"},
     "requester": {"id": "{{ticket.requester.id}}", "email": "{{ticket.requester.email}}",
                   "phone": "{{ticket.requester.phone}}"}}

The event type `source.touchpoints` looks up: a status change to solved or closed is
`ticket.solved` / `ticket.closed`; any other event is its own type without the
`zen:event-type:` prefix (`ticket.created`); a trigger body's `type` is taken as
written, or derived from `ticket.status` when absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cxloop_shared.config import SourceConfig

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import (
    decode_signature,
    header,
    parse_stamp,
    require_fresh,
    require_header,
    signed_by_any,
)

_PREFIX = "zen:event-type:"
_DONE = {"solved": "ticket.solved", "closed": "ticket.closed"}


class ZendeskAdapter:
    """Zendesk's timestamped HMAC; a ticket event becomes one touchpoint."""

    kind = "zendesk"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        signature = require_header(delivery, "X-Zendesk-Webhook-Signature")
        stamp = require_header(delivery, "X-Zendesk-Webhook-Signature-Timestamp")
        require_fresh(parse_stamp(stamp), now)
        signed = stamp.encode() + delivery.body
        if not signed_by_any(secrets, signed, [decode_signature(signature, "base64")]):
            raise SignatureRejected("X-Zendesk-Webhook-Signature does not match")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        document = common.parse_json(delivery.body)
        ticket = _Ticket.of(document)
        touchpoint_key = source.touchpoints.get(ticket.event_type)
        if touchpoint_key is None:
            return Mapped(ignored=ticket.event_type)
        event_id = common.first(
            document.get("id"),
            header(delivery, "X-Zendesk-Webhook-Invocation-Id"),
            f"{ticket.id}:{ticket.status}" if ticket.id and ticket.status else None,
        )
        touchpoint = common.touchpoint(
            event_id=event_id,
            touchpoint_key=touchpoint_key,
            occurred_at=ticket.occurred_at or delivery.received_at,
            customer=common.customer(
                common.first(ticket.requester.get("id"), ticket.requester.get("email")),
                field=ticket.requester_field,
                email=ticket.requester.get("email"),
                phone=ticket.requester.get("phone"),
                locale=ticket.requester.get("locale"),
            ),
            channel=common.key(ticket.via),
            attributes=common.attributes(
                {
                    "ticket_id": ticket.id,
                    "channel": ticket.via,
                    "group": common.text(ticket.fields.get("group"))
                    or common.text(ticket.fields.get("group_id")),
                    "agent": common.text(ticket.fields.get("assignee"))
                    or common.text(ticket.fields.get("assignee_id")),
                    "priority": common.text(ticket.fields.get("priority")),
                    "status": ticket.status,
                    "tags": _tags(ticket.fields.get("tags")),
                }
            ),
        )
        return Mapped(touchpoints=(touchpoint,))


@dataclass(frozen=True)
class _Ticket:
    """The parts of either body shape the mapping needs."""

    event_type: str
    fields: dict[str, Any]
    requester: dict[str, Any]
    requester_field: str
    occurred_at: datetime | None

    @property
    def id(self) -> str | None:
        return common.text(self.fields.get("id"))

    @property
    def status(self) -> str | None:
        return (common.text(self.fields.get("status")) or "").lower() or None

    @property
    def via(self) -> str | None:
        via = self.fields.get("via")
        return common.text(common.obj(via).get("channel")) or common.text(via)

    @classmethod
    def of(cls, document: dict[str, Any]) -> _Ticket:
        if "detail" in document:  # an event subscription, written by Zendesk
            return cls._from_event(document)
        return cls._from_trigger(document)

    @classmethod
    def _from_event(cls, document: dict[str, Any]) -> _Ticket:
        detail = common.obj(document.get("detail"))
        event_type = (common.text(document.get("type")) or "").removeprefix(_PREFIX)
        if not event_type:
            raise PayloadRejected("type: missing")
        if event_type == "ticket.status_changed":
            current = common.obj(document.get("event")).get("current")
            status = (common.text(current) or common.text(detail.get("status")) or "").lower()
            event_type = _DONE.get(status, event_type)
        return cls(
            event_type=event_type,
            fields=detail,
            requester={"id": detail.get("requester_id")},
            requester_field="detail.requester_id",
            occurred_at=common.first_time(document.get("time"), detail.get("updated_at")),
        )

    @classmethod
    def _from_trigger(cls, document: dict[str, Any]) -> _Ticket:
        ticket = common.obj(document.get("ticket"))
        status = (common.text(ticket.get("status")) or "").lower()
        derived = _DONE.get(status) or (f"ticket.{status}" if status else None)
        event_type = common.text(document.get("type")) or derived
        if event_type is None:
            raise PayloadRejected("type: missing, and no ticket.status to derive it from")
        return cls(
            event_type=event_type,
            fields=ticket,
            requester=common.obj(document.get("requester")),
            requester_field="requester.id",
            occurred_at=common.first_time(ticket.get("updated_at")),
        )


def _tags(value: object) -> str | None:
    if isinstance(value, list):
        return ",".join(t for t in (common.text(v) for v in value) if t) or None
    found = common.text(value)
    return ",".join(found.split()) if found else None
