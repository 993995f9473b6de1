"""CloudEvents 1.0 in Kafka's binary content mode: attributes in headers, JSON body."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from cxloop_shared.events import EVENT_TYPES, CxEvent, utcnow

SPECVERSION = "1.0"
Headers = list[tuple[str, bytes]]


class UndecodableMessage(ValueError):
    """A Kafka message that is not a cxloop event this version understands."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One message ready to produce: topic, key, value and headers."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers


def event_id(event: CxEvent) -> str:
    """A deterministic CloudEvents id, so a re-published event keeps its identity."""
    digest = hashlib.sha256(f"{event.ce_type}|{event.workspace_id}|{event.subject}".encode())
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def encode(
    event: CxEvent,
    *,
    topic: str,
    source: str,
    time: datetime | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> KafkaRecord:
    """Wrap `event` as a Kafka record with CloudEvents headers and the customer key, plus
    the W3C trace context when one is given (only when tracing is on)."""
    headers: Headers = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", event_id(event).encode()),
        ("ce_source", source.encode()),
        ("ce_type", event.ce_type.encode()),
        ("ce_time", (time or utcnow()).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
        if tracestate:
            headers.append(("tracestate", tracestate.encode()))
    return KafkaRecord(
        topic=topic,
        key=event.kafka_key().encode(),
        value=event.model_dump_json().encode(),
        headers=headers,
    )


def header(headers: Headers | tuple[tuple[str, bytes], ...], name: str) -> str | None:
    """The first header called `name`, decoded, or None."""
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def decode(headers: Headers | tuple[tuple[str, bytes], ...], value: bytes | None) -> CxEvent:
    """Parse a Kafka message into its event model; raise UndecodableMessage if it is not one."""
    ce_type = header(headers, "ce_type")
    if ce_type is None:
        raise UndecodableMessage("missing ce_type header")
    model = EVENT_TYPES.get(ce_type)
    if model is None:
        raise UndecodableMessage(f"unknown event type {ce_type!r}")
    if value is None:
        raise UndecodableMessage("empty message body")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        raise UndecodableMessage(f"invalid {ce_type}: {exc.error_count()} errors: {exc}") from exc
