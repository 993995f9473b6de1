"""Chatwoot webhooks: conversations resolved, and any other event a source maps.

Chatwoot (4.11.2 and later; API inboxes and agent bots from 4.13) signs each
delivery with the webhook's secret: `X-Chatwoot-Signature: sha256=<hex>` is
HMAC-SHA256 of `"<X-Chatwoot-Timestamp>." + raw body`, the timestamp in unix
seconds, which must be within 5 minutes of now.

A conversation event's body is the conversation itself plus `event`: `id` (the
conversation's number in the account), `channel` ("Channel::WebWidget"…),
`inbox_id`, `status`, `meta.sender` (the contact: id, identifier, email,
phone_number), `meta.assignee` (the agent), `created_at` and `timestamp` (last
activity) in unix seconds. A message event nests the conversation under
`conversation`. `conversation_status_changed` to resolved, like an agent bot's
`conversation_resolved`, is the event type `conversation_resolved`; any other
event is its own type. The touchpoint id is `<conversation>:<type>:<timestamp>`, the
same on every redelivery of one resolution and new for the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Customer

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import (
    decode_signature,
    parse_stamp,
    require_fresh,
    require_header,
    signed_by_any,
)

RESOLVED = "conversation_resolved"
_CHANNELS = {
    "webwidget": "chat",
    "api": "chat",
    "email": "email",
    "voice": "voice",
    "whatsapp": "messaging",
    "sms": "messaging",
    "twiliosms": "messaging",
    "telegram": "messaging",
    "line": "messaging",
    "facebookpage": "messaging",
    "instagram": "messaging",
    "tiktok": "messaging",
}


class ChatwootAdapter:
    """Chatwoot's timestamped HMAC; a conversation event becomes one touchpoint."""

    kind = "chatwoot"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        signature = require_header(delivery, "X-Chatwoot-Signature")
        stamp = require_header(delivery, "X-Chatwoot-Timestamp")
        require_fresh(parse_stamp(stamp), now)
        signed = f"{stamp}.".encode() + delivery.body
        hex_digest = signature.removeprefix("sha256=")
        if not signed_by_any(secrets, signed, [decode_signature(hex_digest, "hex")]):
            raise SignatureRejected("X-Chatwoot-Signature does not match")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        payload = common.parse_json(delivery.body)
        event = common.text(payload.get("event"))
        if event is None:
            raise PayloadRejected("event: missing")
        nested = event.startswith("message_")
        conversation = common.obj(payload.get("conversation")) if nested else payload
        event_type = _event_type(event, conversation)
        touchpoint_key = source.touchpoints.get(event_type)
        if touchpoint_key is None:
            return Mapped(ignored=event_type)
        conversation_id = common.text(conversation.get("id"))
        if conversation_id is None:
            raise PayloadRejected("conversation.id: missing" if nested else "id: missing")
        started = common.parse_time(conversation.get("created_at"))
        at = common.first_time(conversation.get("timestamp"), conversation.get("updated_at"))
        if nested:
            at = common.first_time(payload.get("created_at")) or at
        moment = common.first(payload.get("id")) if nested else _unix(at)
        handled = _seconds_between(started, at) if event_type == RESOLVED else None
        channel = _channel(conversation.get("channel"))
        meta = common.obj(conversation.get("meta"))
        inbox = common.obj(payload.get("inbox"))
        touchpoint = common.touchpoint(
            event_id=f"{conversation_id}:{event_type}:{moment}" if moment else None,
            touchpoint_key=touchpoint_key,
            occurred_at=at or delivery.received_at,
            customer=_customer(_sender(payload, meta, nested=nested), nested=nested),
            channel=channel,
            attributes=common.attributes(
                {
                    "channel": channel,
                    "agent": common.text(common.obj(meta.get("assignee")).get("name")),
                    "queue": common.first(inbox.get("name"), conversation.get("inbox_id")),
                    "handle_time_seconds": handled,
                    "conversation_id": conversation_id,
                    "status": common.text(conversation.get("status")),
                }
            ),
        )
        return Mapped(touchpoints=(touchpoint,))


def _event_type(event: str, conversation: dict[str, Any]) -> str:
    resolved = common.text(conversation.get("status")) == "resolved"
    if event == "conversation_status_changed" and resolved:
        return RESOLVED
    return event


def _sender(payload: dict[str, Any], meta: dict[str, Any], *, nested: bool) -> dict[str, Any]:
    """The contact: the conversation's sender, or an incoming message's own sender."""
    sender = common.obj(meta.get("sender"))
    message_sender = common.obj(payload.get("sender"))
    if not sender and nested and message_sender.get("type") == "contact":
        return message_sender
    return sender


def _customer(sender: dict[str, Any], *, nested: bool) -> Customer:
    return common.customer(
        common.first(sender.get("identifier"), sender.get("id")),
        field="conversation.meta.sender.id" if nested else "meta.sender.id",
        email=sender.get("email"),
        phone=sender.get("phone_number"),
    )


def _channel(value: object) -> str | None:
    name = (common.text(value) or "").removeprefix("Channel::").lower()
    return _CHANNELS.get(name) or common.key(name)


def _unix(moment: datetime | None) -> str | None:
    return str(int(moment.timestamp())) if moment else None


def _seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return int((end - start).total_seconds())
