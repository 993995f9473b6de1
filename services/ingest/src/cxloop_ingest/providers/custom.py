"""Custom sources: a signature scheme and a payload mapping declared in the configuration.

The declaration is `cxloop_shared.mapping.CustomMapping` (JMESPath expressions over
the JSON body). Verifying needs the declared scheme, which `verify`'s arguments do
not carry: the registered adapter refuses every delivery, and the route asks for one
bound to the source with `adapter_for("custom", mapping=source.mapping)`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import jmespath
from cxloop_shared.config import SourceConfig
from cxloop_shared.mapping import CustomMapping
from jmespath.exceptions import JMESPathError
from pydantic import ValidationError

from cxloop_ingest.providers import common
from cxloop_ingest.providers.base import Delivery, Mapped, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.signing import (
    decode_signature,
    parse_stamp,
    require_fresh,
    require_header,
    signed_by_any,
)


class CustomAdapter:
    """A declared HMAC scheme and declared mapping; bound to one source's mapping."""

    kind = "custom"

    def __init__(self, mapping: object = None) -> None:
        self._mapping = mapping

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        if self._mapping is None:
            raise SignatureRejected("custom sources verify through adapter_for(kind, mapping=…)")
        try:
            scheme = load_mapping(self._mapping).signature
        except PayloadRejected as exc:
            raise SignatureRejected("the source's mapping is invalid") from exc
        value = require_header(delivery, scheme.header)
        if not value.startswith(scheme.prefix):
            raise SignatureRejected(f"{scheme.header} lacks the prefix {scheme.prefix!r}")
        claimed = decode_signature(value.removeprefix(scheme.prefix).strip(), scheme.encoding)
        message = delivery.body
        if scheme.timestamp_header is not None and scheme.signed != "body":
            stamp = require_header(delivery, scheme.timestamp_header)
            require_fresh(parse_stamp(stamp), now)
            joint = b"." if scheme.signed == "timestamp.body" else b""
            message = stamp.encode() + joint + delivery.body
        if not signed_by_any(secrets, message, [claimed], scheme.algorithm):
            raise SignatureRejected(f"{scheme.header} does not match")

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        mapping = load_mapping(source.mapping)
        document = common.parse_json(delivery.body)
        touchpoint_key = mapping.touchpoint
        if mapping.type is not None:
            event_type = common.text(_search(mapping.type, document, "type"))
            if event_type is None:
                raise PayloadRejected("type: the expression found no event type")
            touchpoint_key = source.touchpoints.get(event_type)
            if touchpoint_key is None:
                return Mapped(ignored=event_type)
        if touchpoint_key is None:  # unreachable: CustomMapping requires one of the two
            raise PayloadRejected("mapping: names neither type nor touchpoint")
        people = mapping.customer
        touchpoint = common.touchpoint(
            event_id=_search(mapping.id, document, "id"),
            touchpoint_key=touchpoint_key,
            occurred_at=_occurred_at(mapping, document) or delivery.received_at,
            customer=common.customer(
                _search(people.id, document, "customer.id"),
                field="customer.id",
                email=_search(people.email, document, "customer.email"),
                phone=_search(people.phone, document, "customer.phone"),
                locale=_search(people.locale, document, "customer.locale"),
                timezone=_search(people.timezone, document, "customer.timezone"),
                preferred_channel=_search(
                    people.preferred_channel, document, "customer.preferred_channel"
                ),
                persona=_search(people.persona, document, "customer.persona"),
            ),
            channel=common.key(_search(mapping.channel, document, "channel")),
            attributes=common.attributes(
                {
                    name: _search(expression, document, f"attributes.{name}")
                    for name, expression in mapping.attributes.items()
                }
            ),
        )
        return Mapped(touchpoints=(touchpoint,))


def load_mapping(value: object) -> CustomMapping:
    """The source's mapping as a model, from a model or the configuration's dict."""
    if isinstance(value, CustomMapping):
        return value
    if value is None:
        raise PayloadRejected("mapping: a custom source needs one")
    try:
        return CustomMapping.model_validate(value)
    except ValidationError as exc:
        raise PayloadRejected(f"mapping: {common.fields(exc)}") from exc


@functools.lru_cache(maxsize=1024)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def _search(expression: str | None, document: dict[str, Any], field: str) -> object:
    if expression is None:
        return None
    try:
        found: object = _compiled(expression).search(document)
    except JMESPathError as exc:
        raise PayloadRejected(f"{field}: the expression failed ({type(exc).__name__})") from exc
    return found


def _occurred_at(mapping: CustomMapping, document: dict[str, Any]) -> datetime | None:
    found = _search(mapping.occurred_at, document, "occurred_at")
    if found is None:
        return None
    moment = common.parse_time(found)
    if moment is None:
        raise PayloadRejected("occurred_at: neither ISO 8601 nor unix seconds")
    return moment
