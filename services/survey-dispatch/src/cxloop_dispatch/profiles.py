"""Customer profiles as pure functions: merging touchpoints, consent and erasure.

A touchpoint says what a source knew about the customer when it happened. Sources
disagree and arrive out of order, so each field keeps the time it was observed
and the newest observation wins, field by field. Consent is kept per channel with
its time, so an opt-in and an opt-out delivered out of order still end as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cxloop_shared.events import Customer

from cxloop_dispatch.policy import EVERY_CHANNEL, Profile

FIELDS = ("email", "phone", "timezone", "locale", "preferred_channel", "persona")


@dataclass(slots=True)
class StoredCustomer:
    """A `dispatch.customers` row."""

    fields: dict[str, str] = field(default_factory=dict)
    field_times: dict[str, str] = field(default_factory=dict)
    consent: dict[str, dict[str, Any]] = field(default_factory=dict)
    erased_at: datetime | None = None


def observe(stored: StoredCustomer, customer: Customer, occurred_at: datetime) -> bool:
    """Fold what a touchpoint says about the customer into `stored`; True if it changed.

    An erased customer stays erased: a late touchpoint brings no personal data back.
    """
    if stored.erased_at is not None:
        return False
    changed = False
    seen = occurred_at.isoformat()
    for name in FIELDS:
        value = getattr(customer, name)
        if value is None:
            continue
        before = stored.field_times.get(name)
        if before is not None and datetime.fromisoformat(before) > occurred_at:
            continue
        if stored.fields.get(name) != value or before != seen:
            stored.fields[name] = value
            stored.field_times[name] = seen
            changed = True
    return changed


def change_consent(
    stored: StoredCustomer,
    *,
    change: Literal["opt_out", "opt_in"],
    channel: str | None,
    at: datetime,
) -> None:
    """Record an opt-out or opt-in of `channel` (every channel when None), newest wins."""
    key = channel or EVERY_CHANNEL
    current = stored.consent.get(key)
    if current is not None and datetime.fromisoformat(current["at"]) > at:
        return
    stored.consent[key] = {"opted_out": change == "opt_out", "at": at.isoformat()}
    if channel is None and change == "opt_in":
        # "Start again" lifts every earlier opt-out.
        for other in stored.consent.values():
            if datetime.fromisoformat(other["at"]) <= at:
                other["opted_out"] = False


def erase(stored: StoredCustomer, at: datetime) -> None:
    """Forget the customer's personal data; consent and the fact of erasure stay."""
    stored.fields.clear()
    stored.field_times.clear()
    stored.erased_at = stored.erased_at or at


def profile(stored: StoredCustomer, *, blocked_channels: frozenset[str] = frozenset()) -> Profile:
    """The policy's view of the customer; `blocked_channels` are opted out by address."""
    opted_out = {key for key, state in stored.consent.items() if state["opted_out"]}
    return Profile(
        email=stored.fields.get("email"),
        phone=stored.fields.get("phone"),
        timezone=stored.fields.get("timezone"),
        locale=stored.fields.get("locale"),
        preferred_channel=stored.fields.get("preferred_channel"),
        erased=stored.erased_at is not None,
        opted_out=frozenset(opted_out | blocked_channels),
    )
