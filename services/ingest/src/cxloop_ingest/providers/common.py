"""Mapping helpers every adapter shares: JSON, times, customers, attributes, touchpoints.

Providers send what they have, not what a touchpoint needs. The rule here: a field a
touchpoint cannot do without (an id, a customer id) rejects the delivery with a reason
naming the field; an optional field that does not validate (a phone not in E.164, a
malformed email) is dropped, so one bad detail never loses the touchpoint. Reasons
name fields, never values: a delivery's contents stay out of logs and answers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cxloop_shared.events import Customer, JsonScalar, Touchpoint
from pydantic import ValidationError

from cxloop_ingest.providers.base import PayloadRejected

MAX_ATTRIBUTES = 100
MAX_TEXT = 1000

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_OPTIONAL_CUSTOMER_FIELDS = ("email", "phone", "locale", "timezone", "preferred_channel", "persona")

Document = dict[str, Any]


def parse_json(body: bytes) -> Document:
    """The body as a JSON object."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadRejected("the body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise PayloadRejected("the body is not a JSON object")
    return document


def obj(value: object) -> Document:
    """`value` if it is a JSON object, else an empty one, so lookups can chain."""
    return value if isinstance(value, dict) else {}


def text(value: object) -> str | None:
    """A scalar as trimmed text; None for missing, empty, booleans and structures."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float):
        found = str(value).strip()
        return found[:MAX_TEXT] or None
    return None


def first(*values: object) -> str | None:
    """The first of `values` that is usable text."""
    for value in values:
        found = text(value)
        if found is not None:
            return found
    return None


def number(value: object) -> float | None:
    """A number from a JSON number or a decimal string such as Shopify's "199.00"."""
    if isinstance(value, bool):
        return None
    try:
        found = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    return found if found is not None and math.isfinite(found) else None


def key(value: object) -> str | None:
    """`value` as a valid key ("Web Form" becomes "web_form"), or None."""
    found = text(value)
    if found is None:
        return None
    candidate = re.sub(r"\s+", "_", found.lower())[:100]
    return candidate if _KEY.match(candidate) else None


def parse_time(value: object) -> datetime | None:
    """An aware time from ISO 8601 (any fraction, Z or offset) or unix seconds; else None.

    Times without an offset are taken as UTC, as providers that omit it mean.
    """
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if not isinstance(value, str) or not value.strip():
            return None
        raw = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", raw):
            return datetime.fromtimestamp(float(raw), UTC)
        if raw.endswith(" UTC"):
            raw = raw[:-4] + "+00:00"
        found = datetime.fromisoformat(raw)
    except (ValueError, OverflowError, OSError):
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def first_time(*values: object) -> datetime | None:
    """The first of `values` that parses as a time."""
    for value in values:
        found = parse_time(value)
        if found is not None:
            return found
    return None


def phone_number(value: object) -> str | None:
    """A phone number with its punctuation removed, so "+1 (415) 555-0100" is E.164."""
    found = text(value)
    if found is None:
        return None
    return _PHONE_PUNCTUATION.sub("", found.removeprefix("whatsapp:"))


def customer(
    customer_id: object,
    *,
    field: str = "customer.id",
    email: object = None,
    phone: object = None,
    locale: object = None,
    timezone: object = None,
    preferred_channel: object = None,
    persona: object = None,
) -> Customer:
    """A customer whose id is required and whose other fields are kept only if valid.

    `field` names where the id should have been, for the rejection reason.
    """
    found_id = text(customer_id)
    if found_id is None:
        raise PayloadRejected(f"{field}: no customer id in the delivery")
    if len(found_id) > 200:
        raise PayloadRejected(f"{field}: longer than 200 characters")
    optional = {
        "email": text(email),
        "phone": phone_number(phone),
        "locale": text(locale),
        "timezone": text(timezone),
        "preferred_channel": key(preferred_channel),
        "persona": text(persona),
    }
    kept: dict[str, str] = {}
    for name in _OPTIONAL_CUSTOMER_FIELDS:
        value = optional[name]
        if value is None:
            continue
        try:
            Customer.model_validate({"id": found_id, name: value})
        except ValidationError:
            continue
        kept[name] = value
    return Customer.model_validate({"id": found_id, **kept})


def attributes(values: Mapping[str, object]) -> dict[str, JsonScalar]:
    """The scalar values under valid keys, at most 100; None and structures are left out."""
    kept: dict[str, JsonScalar] = {}
    for name, value in values.items():
        if len(kept) == MAX_ATTRIBUTES:
            break
        if not _KEY.match(name) or len(name) > 100 or value is None:
            continue
        if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
            kept[name] = value
        elif isinstance(value, str):
            kept[name] = value[:MAX_TEXT]
    return kept


def touchpoint(
    *,
    event_id: object,
    touchpoint_key: str,
    occurred_at: datetime,
    customer: Customer,
    channel: str | None = None,
    attributes: Mapping[str, JsonScalar] | None = None,
) -> Touchpoint:
    """The canonical touchpoint; a field that does not validate rejects it, by name."""
    found_id = text(event_id)
    if found_id is None:
        raise PayloadRejected("id: no event id in the delivery")
    try:
        return Touchpoint(
            id=found_id,
            touchpoint=touchpoint_key,
            occurred_at=occurred_at,
            customer=customer,
            channel=channel,
            attributes=dict(attributes or {}),
        )
    except ValidationError as exc:
        raise PayloadRejected(f"invalid touchpoint: {fields(exc)}") from exc


def fields(exc: ValidationError, prefix: str = "") -> str:
    """The fields a validation error names, with pydantic's reason but not the values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in (prefix, *error['loc']) if part != '') or 'body'}: "
        f"{error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)[:5]
    )
