"""Standard Webhooks (standardwebhooks.com), carrying canonical touchpoints or typed events.

The signature is verified by the `standardwebhooks` library: `webhook-signature`
holds space-separated `v1,<base64>` entries over `"<webhook-id>.<webhook-timestamp>.<body>"`,
keyed with the base64 secret after `whsec_`. The library refuses a timestamp more
than 5 minutes old or ahead of *its own* clock, which cannot be injected; the same
rule is applied first against the `now` we are given, so both must agree.

The body is either canonical — one touchpoint, or `{"events": [...]}`, recognised by
a `touchpoint` or `events` key, each item keeping its own `id` — or the Standard
Webhooks convention `{"type", "timestamp", "data": {...}}`, where `type` goes through
`source.touchpoints`, `data.customer` is a canonical customer, `data.id` (else the
`webhook-id`) is the id and the other scalar `data` fields become attributes. This
adapter also serves sources of kind `canonical`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Touchpoint
from pydantic import TypeAdapter, ValidationError
from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import header, parse_stamp, require_fresh, require_header

MAX_BATCH_EVENTS = 1000  # as POST /v1/events takes by default
_BATCH = TypeAdapter(list[Touchpoint])
_RESERVED_DATA = frozenset({"id", "customer", "channel"})


class StandardAdapter:
    """Standard Webhooks signatures; canonical or conventional bodies."""

    kind = "standard"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        message_id = require_header(delivery, "webhook-id")
        stamp = require_header(delivery, "webhook-timestamp")
        entries = require_header(delivery, "webhook-signature").split()
        require_fresh(parse_stamp(stamp), now)
        well_formed = " ".join(e for e in entries if e.count(",") == 1)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": stamp,
            "webhook-signature": well_formed,
        }
        for secret in secrets:
            try:
                Webhook(secret).verify(delivery.body, headers, json_parse=False)
            except (WebhookVerificationError, EmptyWebhookSecretError, ValueError, RuntimeError):
                continue
            return
        raise SignatureRejected("no webhook-signature entry matches a configured secret")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        document = common.parse_json(delivery.body)
        if "touchpoint" in document or "events" in document:
            return Mapped(touchpoints=_canonical(document))
        event_type = common.text(document.get("type"))
        if event_type is None:
            raise PayloadRejected("type: missing (nor is the body a canonical touchpoint)")
        touchpoint_key = source.touchpoints.get(event_type)
        if touchpoint_key is None:
            return Mapped(ignored=event_type)
        data = common.obj(document.get("data"))
        person = common.obj(data.get("customer"))
        touchpoint = common.touchpoint(
            event_id=common.first(data.get("id"), header(delivery, "webhook-id")),
            touchpoint_key=touchpoint_key,
            occurred_at=common.parse_time(document.get("timestamp")) or delivery.received_at,
            customer=common.customer(
                person.get("id"),
                field="data.customer.id",
                email=person.get("email"),
                phone=person.get("phone"),
                locale=person.get("locale"),
                timezone=person.get("timezone"),
                preferred_channel=person.get("preferred_channel"),
                persona=person.get("persona"),
            ),
            channel=common.key(data.get("channel")),
            attributes=common.attributes(
                {name: value for name, value in data.items() if name not in _RESERVED_DATA}
            ),
        )
        return Mapped(touchpoints=(touchpoint,))


def _canonical(document: dict[str, Any]) -> tuple[Touchpoint, ...]:
    if "events" not in document:
        try:
            return (Touchpoint.model_validate(document),)
        except ValidationError as exc:
            raise PayloadRejected(f"invalid touchpoint: {common.fields(exc)}") from exc
    items = document["events"]
    if not isinstance(items, list) or not items:
        raise PayloadRejected("events: expected a non-empty list of touchpoints")
    if len(items) > MAX_BATCH_EVENTS:
        raise PayloadRejected(f"events: at most {MAX_BATCH_EVENTS} touchpoints in one delivery")
    try:
        return tuple(_BATCH.validate_python(items))
    except ValidationError as exc:
        raise PayloadRejected(f"invalid touchpoints: {common.fields(exc, 'events')}") from exc
