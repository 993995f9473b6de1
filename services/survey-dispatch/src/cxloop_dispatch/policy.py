"""The dispatch policy: pure decisions from a touchpoint, its configuration and the clock.

`decide()` applies the rules in a fixed order and records the first that fails as
the reason, so every survey not sent can be explained. No I/O here: the handler
loads what the policy needs and stores what it decides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from cxloop_shared.config import ChannelConfig, Policy, SendWindow, WorkspaceConfig
from cxloop_shared.events import Customer, Metric, TouchpointReceived

Outcome = Literal["scheduled", "suppressed"]
ADDRESS_OF_KIND = {"smtp": "email", "twilio": "phone", "whatsapp": "phone", "webhook": "id"}
# Text messages never arrive at night, whatever a workspace configures.
SMS_HOURS = SendWindow.model_validate({"start": "08:00", "end": "21:00"})


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one touchpoint, and why."""

    outcome: Outcome
    reason: str
    survey: str | None = None
    metric: Metric | None = None
    channel: str | None = None
    send_at: datetime | None = None
    expires_at: datetime | None = None


def suppressed(reason: str) -> Decision:
    """A decision not to survey, with its reason."""
    return Decision(outcome="suppressed", reason=reason)


def sample_bucket(*, workspace_id: str, customer_id: str, touchpoint: str) -> float:
    """A stable number in [0, 1) per customer and touchpoint.

    A customer is sampled in when their bucket is below the rate, so the same
    customer always gets the same answer and raising the rate only adds people.
    """
    digest = hashlib.sha256(f"{workspace_id}\x1f{customer_id}\x1f{touchpoint}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_channel(
    *, customer: Customer, order: list[str], channels: dict[str, ChannelConfig]
) -> str | None:
    """The first channel in the fallback order the customer can be reached on."""
    candidates = [customer.preferred_channel if c == "preferred" else c for c in order]
    for name in candidates:
        if name is None or name not in channels:
            continue
        address = ADDRESS_OF_KIND[channels[name].kind]
        if getattr(customer, address, None):
            return name
    return None


def next_send_time(earliest: datetime, window: SendWindow, zone: ZoneInfo) -> datetime:
    """The first moment at or after `earliest` inside the daily window, in local time."""
    local = earliest.astimezone(zone)
    for day in range(0, 3):
        date = local.date() + timedelta(days=day)
        start = datetime.combine(date, window.start, tzinfo=zone)
        end = datetime.combine(date, window.end, tzinfo=zone)
        if window.end <= window.start:  # a window across midnight, e.g. 20:00-02:00
            end += timedelta(days=1)
        candidate = max(earliest, start.astimezone(UTC))
        if candidate < end.astimezone(UTC):
            return candidate.astimezone(UTC)
    raise ValueError("send window is empty")


def effective_window(policy: Policy, channel_kind: str) -> SendWindow:
    """The configured window, narrowed to daytime hours for SMS."""
    window = policy.send_window
    if channel_kind != "twilio":
        return window
    return SendWindow(start=max(window.start, SMS_HOURS.start), end=min(window.end, SMS_HOURS.end))


def decide(
    *, touchpoint: TouchpointReceived, config: WorkspaceConfig | None, now: datetime
) -> Decision:
    """Decide whether, when and on which channel to invite the touchpoint's customer."""
    event = touchpoint.event
    measured = config.survey_for(event.touchpoint) if config else None
    if config is None or measured is None:
        return suppressed("touchpoint_not_configured")
    touchpoint_config, survey = measured
    policy = touchpoint_config.policy
    bucket = sample_bucket(
        workspace_id=touchpoint.workspace_id,
        customer_id=event.customer.id,
        touchpoint=event.touchpoint,
    )
    if bucket >= policy.sample:
        return suppressed("sampled_out")
    channel = choose_channel(
        customer=event.customer, order=policy.channels, channels=config.channels
    )
    if channel is None:
        return suppressed("no_channel")
    zone = ZoneInfo(event.customer.timezone or config.timezone)
    expires_at = event.occurred_at + policy.expire_after
    window = effective_window(policy, config.channels[channel].kind)
    send_at = next_send_time(max(event.occurred_at + policy.delay, now), window, zone)
    if send_at >= expires_at:
        return suppressed("expired")
    return Decision(
        outcome="scheduled",
        reason="scheduled" if send_at <= now else "scheduled_later",
        survey=touchpoint_config.survey,
        metric=survey.metric,
        channel=channel,
        send_at=send_at,
        expires_at=expires_at,
    )
