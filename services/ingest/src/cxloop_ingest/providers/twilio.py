"""Twilio's request signature, and Twilio Flex TaskRouter event callbacks.

`X-Twilio-Signature` is base64(HMAC-SHA1(auth token, URL + every POST form
parameter's name and value, sorted by name)). For a JSON body Twilio adds
`bodySHA256=<hex sha256 of the body>` to the query string and signs the URL alone.
Twilio's own validators try the URL both with and without the scheme's default
port, because Twilio is not consistent about it; so does `twilio_signature_valid`,
which the SMS-reply endpoint shares. The scheme signs no timestamp: replays are
caught by the dedupe on the event `Sid`.

A TaskRouter event callback is form-encoded: `EventType` (task.completed…), `Sid`
(the event, EV…), `Timestamp` (unix), `TaskSid`, `TaskAttributes` (a JSON string
with the customer: `customers.{external_id,email,phone}`, `from`, `caller`…),
`TaskChannelUniqueName`, `WorkerName`, `TaskQueueName`, `TaskAge`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Customer

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import decode_signature, digest, require_header

_DEFAULT_PORTS = {"https": 443, "http": 80}
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


def twilio_signature_valid(
    *,
    url: str,
    params: Mapping[str, str] | Sequence[tuple[str, str]],
    signature: str,
    secrets: Sequence[str],
    body: bytes | None = None,
) -> bool:
    """Whether some auth token in `secrets` signed this request as Twilio does.

    `params` are the decoded POST form parameters (none for a JSON body). When the
    URL carries `bodySHA256`, `body` must be given and must hash to it.
    """
    pairs = sorted(params.items() if isinstance(params, Mapping) else params)
    signed_params = "".join(name + value for name, value in pairs)
    claimed = decode_signature(signature, "base64")
    if claimed is None:
        return False
    body_hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
    body_ok = True
    if body_hashes:
        computed = hashlib.sha256(body or b"").hexdigest().encode()
        body_ok = body is not None and hmac.compare_digest(computed, body_hashes[0].encode())
    matched = False
    for secret in secrets:
        for variant in _url_variants(url):
            expected = digest(secret, (variant + signed_params).encode(), "sha1")
            matched |= hmac.compare_digest(expected, claimed)
    return matched and body_ok


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    without = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    variants = [url, without]
    port = _DEFAULT_PORTS.get(parts.scheme)
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")))
    return list(dict.fromkeys(variants))


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
