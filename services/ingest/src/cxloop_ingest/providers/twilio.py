"""Twilio's request signature, and Twilio Flex TaskRouter event callbacks.

`X-Twilio-Signature` (URL plus sorted form parameters, HMAC-SHA1 with the auth token)
is checked by `twilio_signature_valid`, which lives in `cxloop_shared.twilio` because
dispatch verifies Twilio's delivery reports with it too; it is re-exported here for
the SMS-reply endpoint. The scheme signs no timestamp: replays are caught by the
dedupe on the event `Sid`.

A TaskRouter event callback is form-encoded: `EventType` (task.completed…), `Sid`
(the event, EV…), `Timestamp` (unix), `TaskSid`, `TaskAttributes` (a JSON string
with the customer: `customers.{external_id,email,phone}`, `from`, `caller`…),
`TaskChannelUniqueName`, `WorkerName`, `TaskQueueName`, `TaskAge`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Customer
from cxloop_shared.twilio import twilio_signature_valid

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import require_header

__all__ = ["TwilioFlexAdapter", "twilio_signature_valid"]

_CHANNELS = {
    "voice": "voice",
    "phone": "voice",
    "chat": "chat",
    "web": "chat",
    "webchat": "chat",
    "email": "email",
    "sms": "messaging",
    "whatsapp": "messaging",
    "messenger": "messaging",
    "gbm": "messaging",
    "line": "messaging",
}


class TwilioFlexAdapter:
    """Twilio's URL-and-parameters signature; a TaskRouter event becomes one touchpoint."""

    kind = "twilio_flex"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        signature = require_header(delivery, "X-Twilio-Signature")
        json_body = "bodySHA256" in parse_qs(urlsplit(delivery.url).query)
        try:
            params = [] if json_body else _form_pairs(delivery.body)
        except ValueError as exc:
            raise SignatureRejected("the body is not form-encoded UTF-8") from exc
        valid = twilio_signature_valid(
            url=delivery.url,
            params=params,
            signature=signature,
            secrets=secrets,
            body=delivery.body,
        )
        if not valid:
            raise SignatureRejected("X-Twilio-Signature does not match")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        event = _event(delivery)
        event_type = common.text(event.get("EventType"))
        if event_type is None:
            raise PayloadRejected("EventType: missing")
        touchpoint_key = source.touchpoints.get(event_type)
        if touchpoint_key is None:
            return Mapped(ignored=event_type)
        task = _task_attributes(event.get("TaskAttributes"))
        channel = _channel(event, task)
        touchpoint = common.touchpoint(
            event_id=common.first(event.get("Sid"), _fallback_id(event, event_type)),
            touchpoint_key=touchpoint_key,
            occurred_at=_occurred_at(event) or delivery.received_at,
            customer=_customer(task),
            channel=channel,
            attributes=common.attributes(
                {
                    "channel": channel,
                    "agent": common.first(event.get("WorkerName"), event.get("WorkerSid")),
                    "queue": common.first(event.get("TaskQueueName"), event.get("TaskQueueSid")),
                    "handle_time_seconds": _seconds(event.get("TaskAge")),
                    "task_sid": common.text(event.get("TaskSid")),
                    "reason": common.first(
                        event.get("TaskCompletedReason"), event.get("TaskCanceledReason")
                    ),
                }
            ),
        )
        return Mapped(touchpoints=(touchpoint,))


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8", errors="strict"), keep_blank_values=True)


def _event(delivery: Delivery) -> dict[str, Any]:
    if "bodySHA256" in parse_qs(urlsplit(delivery.url).query):
        return common.parse_json(delivery.body)
    try:
        return dict(_form_pairs(delivery.body))
    except ValueError as exc:
        raise PayloadRejected("the body is not form-encoded UTF-8") from exc


def _task_attributes(value: object) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return {}
    try:
        return common.obj(json.loads(value))
    except (ValueError, RecursionError) as exc:
        raise PayloadRejected("TaskAttributes: not a JSON object") from exc


def _customer(task: dict[str, Any]) -> Customer:
    known = common.obj(task.get("customers"))
    caller = common.first(task.get("from"), task.get("caller"))
    caller_email = caller if caller and "@" in caller else None
    caller_phone = common.phone_number(caller) if caller and not caller_email else None
    email = common.first(known.get("email"), task.get("email"), caller_email)
    phone = common.first(known.get("phone"), caller_phone)
    return common.customer(
        common.first(known.get("external_id"), email, phone, caller),
        field="TaskAttributes.customers.external_id",
        email=email,
        phone=phone,
    )


def _channel(event: dict[str, Any], task: dict[str, Any]) -> str | None:
    for candidate in (event.get("TaskChannelUniqueName"), task.get("channelType")):
        found = (common.text(candidate) or "").lower()
        if found in _CHANNELS:
            return _CHANNELS[found]
    return common.key(event.get("TaskChannelUniqueName"))


def _occurred_at(event: dict[str, Any]) -> datetime | None:
    millis = common.number(event.get("TimestampMs"))
    return common.first_time(event.get("Timestamp"), millis / 1000 if millis else None)


def _seconds(value: object) -> int | None:
    found = common.number(value)
    return int(found) if found is not None and found >= 0 else None


def _fallback_id(event: dict[str, Any], event_type: str) -> str | None:
    task_sid = common.text(event.get("TaskSid"))
    return f"{task_sid}:{event_type}" if task_sid else None
