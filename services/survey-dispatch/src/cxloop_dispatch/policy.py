"""The dispatch policy: pure decisions from a touchpoint, the customer, their history and the clock.

`decide()` applies the rules in a fixed order and records the first that fails as
the reason, so every survey not sent can be explained. No I/O here: the handler
loads what the policy needs (configuration, profile, fatigue history) and stores
what it decides; the scheduler asks `next_reminder()` when to remind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cxloop_shared.config import ChannelConfig, FatigueRule, Reminder, SendWindow, WorkspaceConfig
from cxloop_shared.events import Customer, Metric, TouchpointReceived
from cxloop_shared.expressions import Expression, compile_expression

Outcome = Literal["scheduled", "suppressed"]
ADDRESS_OF_KIND = {"smtp": "email", "twilio": "phone", "whatsapp": "phone", "webhook": "id"}
# Text messages never arrive at night, whatever a workspace configures.
SMS_HOURS = SendWindow.model_validate({"start": "08:00", "end": "21:00"})
TEXT_MESSAGE_KINDS = frozenset({"twilio", "whatsapp"})
# In `Profile.opted_out`: an opt-out that named no channel (e.g. "stop everything").
EVERY_CHANNEL = "*"
DAY = timedelta(days=1)
ALL_DAY = SendWindow(start=time(0), end=time(0))


@dataclass(frozen=True, slots=True)
class Profile:
    """What earlier events told us about the customer: how to reach them, and what they allow."""

    email: str | None = None
    phone: str | None = None
    timezone: str | None = None
    locale: str | None = None
    preferred_channel: str | None = None
    erased: bool = False
    opted_out: frozenset[str] = frozenset()

    def opted_out_of(self, channel: str) -> bool:
        """Whether the customer asked not to be contacted on `channel`."""
        return channel in self.opted_out or EVERY_CHANNEL in self.opted_out


@dataclass(frozen=True, slots=True)
class Sent:
    """An earlier invitation to the customer (scheduled or sent) that counts for fatigue."""

    touchpoint: str
    survey: str
    channel: str
    at: datetime


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


def iso_duration(span: timedelta) -> str:
    """`P7D`, `PT2H`, `P1DT12H`, `PT30M`: a rule's period as written in the configuration."""
    sign, span = ("-" if span < timedelta(0) else ""), abs(span)
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f".{span.microseconds:06d}".rstrip("0") if span.microseconds else ""
    day = f"{span.days}D" if span.days else ""
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    clock += f"{seconds}{fraction}S" if seconds or fraction else ""
    if not day and not clock:
        return "PT0S"
    return f"{sign}P{day}" + (f"T{clock}" if clock else "")


def with_profile(customer: Customer, profile: Profile | None) -> Customer:
    """The customer as the event describes them, completed from their stored profile."""
    if profile is None:
        return customer
    fields = ("email", "phone", "timezone", "locale", "preferred_channel")
    known = {field: getattr(profile, field) for field in fields if getattr(customer, field) is None}
    return customer.model_copy(update=known)


def reachable_channels(
    *, customer: Customer, order: list[str], channels: dict[str, ChannelConfig]
) -> list[str]:
    """The fallback order's channels (`preferred` resolved) that have the customer's address."""
    reachable: list[str] = []
    for name in (customer.preferred_channel if c == "preferred" else c for c in order):
        if name is None or name not in channels or name in reachable:
            continue
        if getattr(customer, ADDRESS_OF_KIND[channels[name].kind], None):
            reachable.append(name)
    return reachable


def choose_channel(
    *,
    customer: Customer,
    order: list[str],
    channels: dict[str, ChannelConfig],
    profile: Profile | None = None,
) -> str | None:
    """The first channel in the fallback order that reaches the customer and they allow."""
    allowed = profile or Profile()
    reachable = reachable_channels(customer=customer, order=order, channels=channels)
    return next((name for name in reachable if not allowed.opted_out_of(name)), None)


def customer_zone(*names: str | None) -> ZoneInfo:
    """The first valid time zone of the customer's, then the workspace's; UTC as a last resort."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def effective_window(window: SendWindow, channel_kind: str | None) -> tuple[SendWindow, ...]:
    """The configured window, or for text messages only its parts within 08:00-21:00.

    A window across midnight can meet daytime twice (20:00-09:00 gives 08:00-09:00
    and 20:00-21:00), and one entirely at night not at all (an empty tuple).
    """
    if channel_kind not in TEXT_MESSAGE_KINDS:
        return (window,)
    start, end = _since_midnight(window.start), _since_midnight(window.end)
    if end <= start:
        end += DAY
    parts = []
    for day in (timedelta(0), DAY):
        opens = max(start, day + _since_midnight(SMS_HOURS.start))
        closes = min(end, day + _since_midnight(SMS_HOURS.end))
        if opens < closes:
            parts.append(SendWindow(start=_clock(opens - day), end=_clock(closes - day)))
    return tuple(sorted(parts, key=lambda part: part.start))


def next_send_time(earliest: datetime, window: SendWindow, zone: ZoneInfo) -> datetime:
    """The first moment at or after `earliest` inside the daily window, in local time."""
    for opens, closes in _openings(window, zone, earliest):
        if earliest < closes:
            return max(earliest, opens).astimezone(UTC)
    raise ValueError("send window is empty")


def first_send_time(earliest: datetime, windows: Sequence[SendWindow], zone: ZoneInfo) -> datetime:
    """The first moment at or after `earliest` inside any of the windows."""
    return min(next_send_time(earliest, window, zone) for window in windows)


def _since_midnight(at: time) -> timedelta:
    return datetime.combine(date.min, at) - datetime.combine(date.min, time())


def _clock(since_midnight: timedelta) -> time:
    return (datetime.combine(date.min, time()) + since_midnight).time()


def _openings(
    window: SendWindow, zone: ZoneInfo, around: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The window's open spans from the day before `around` on, as UTC instants.

    A day starts one day back so a window across midnight that opened yesterday
    counts. Where a clock change skips or repeats an edge, the window opens at the
    later reading and closes at the earlier, so every instant inside it shows a
    local time inside it (a window the change swallows whole is simply not open).
    """
    first = around.astimezone(zone).date()
    for offset in range(-1, 3):
        day = first + timedelta(days=offset)
        closing_day = day + DAY if window.end <= window.start else day
        opens = max(_readings(day, window.start, zone))
        closes = min(_readings(closing_day, window.end, zone))
        if opens < closes:
            yield opens, closes


def _readings(day: date, at: time, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Both instants a local time may mean (the same one unless a clock change is near)."""
    local = datetime.combine(day, at, tzinfo=zone)
    return local.replace(fold=0).astimezone(UTC), local.replace(fold=1).astimezone(UTC)


def fits(rule: FatigueRule, times: Sequence[datetime], at: datetime) -> bool:
    """Whether one more invitation at `at` keeps every `per`-long span at `max` or fewer.

    Only spans containing `at` gain one, and the fullest of them starts at `at` or at
    an earlier invitation less than `per` before it. Invitations after `at` (deferred
    ones) count as much as earlier ones.
    """
    near = [t for t in times if abs(t - at) < rule.per]
    starts = [at, *(t for t in near if t < at)]
    return all(sum(start <= t < start + rule.per for t in near) < rule.max for start in starts)


def fatigue_reason(rule: FatigueRule) -> str:
    """`fatigue:<scope>:<per>`, e.g. `fatigue:any_survey:P7D`."""
    return f"fatigue:{rule.scope}:{iso_duration(rule.per)}"


def counted(
    rules: Sequence[FatigueRule],
    history: Sequence[Sent],
    *,
    touchpoint: str,
    survey: str,
    channel: str | None,
) -> list[tuple[FatigueRule, list[datetime]]]:
    """Each rule with the times of the earlier invitations that count against it for this one."""

    def counts(rule: FatigueRule, sent: Sent) -> bool:
        return {
            "any_survey": True,
            "same_touchpoint": sent.touchpoint == touchpoint,
            "same_survey": sent.survey == survey,
            "same_channel": sent.channel == channel,
        }[rule.scope]

    return [(rule, [sent.at for sent in history if counts(rule, sent)]) for rule in rules]


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where an invitation may go: its window(s) in the customer's zone, and its deadline."""

    windows: tuple[SendWindow, ...]
    zone: ZoneInfo
    expires_at: datetime


def _clears_at(rule: FatigueRule, times: Sequence[datetime], at: datetime) -> datetime | None:
    """The first moment after `at` an invitation in the way of `rule` ages out of its span."""
    return min((t + rule.per for t in times if abs(t - at) < rule.per), default=None)


def _schedule(
    *,
    ready_at: datetime,
    now: datetime,
    slot: _Slot,
    fatigue: list[tuple[FatigueRule, list[datetime]]],
) -> tuple[datetime | None, str]:
    """The first time in the window every fatigue rule allows, and why then; or why never.

    Rules are judged at the time the invitation would really leave: a blocking
    "drop" rule suppresses, "defer" rules push the time to when the invitations
    in their way age out, and the window is applied again from there. Fatigue is
    checked before the window's emptiness and expiry, as the rule order says.
    """
    earliest = max(ready_at, now)
    windows = slot.windows or (ALL_DAY,)  # so fatigue is judged even where the window is empty
    at = first_send_time(earliest, windows, slot.zone)
    deferred_by: FatigueRule | None = None
    while blocking := [(rule, times) for rule, times in fatigue if not fits(rule, times, at)]:
        rule = next((r for r, _ in blocking if r.on_exceed == "drop"), blocking[0][0])
        clears = [_clears_at(r, times, at) for r, times in blocking]
        if rule.on_exceed == "drop" or at >= slot.expires_at or None in clears:
            return None, fatigue_reason(rule)
        at = first_send_time(max(c for c in clears if c is not None), windows, slot.zone)
        deferred_by = rule
    if not slot.windows:
        return None, "outside_sms_hours"
    if at >= slot.expires_at:
        return None, fatigue_reason(deferred_by) if deferred_by else "expired"
    if deferred_by:
        return at, "fatigue_deferred"
    if at > earliest:
        return at, "quiet_hours_deferred"
    return at, "scheduled_later" if at > now else "scheduled"


@lru_cache(maxsize=512)
def _rule(text: str) -> Expression | None:
    try:
        return compile_expression(text)
    except ValueError:
        return None


def decide(
    *,
    touchpoint: TouchpointReceived,
    config: WorkspaceConfig | None,
    now: datetime,
    profile: Profile | None = None,
    history: Sequence[Sent] = (),
    duplicate: bool = False,
) -> Decision:
    """Decide whether, when and on which channel to invite the touchpoint's customer.

    `history` holds the customer's invitations that count for fatigue, past and
    already scheduled for later; `duplicate` says the event was seen before.
    """
    event = touchpoint.event
    if duplicate:
        return suppressed("duplicate")
    measured = config.survey_for(event.touchpoint) if config else None
    if config is None or measured is None:
        return suppressed("touchpoint_not_configured")
    if profile is not None and profile.erased:
        return suppressed("erased")
    touchpoint_config, survey = measured
    policy, survey_key = touchpoint_config.policy, touchpoint_config.survey
    customer = with_profile(event.customer, profile)
    allowed = profile or Profile()
    reachable = reachable_channels(
        customer=customer, order=policy.channels, channels=config.channels
    )
    if reachable and all(allowed.opted_out_of(name) for name in reachable):
        return suppressed(f"opted_out:{reachable[0]}")
    if policy.eligible_if is not None:
        eligible = _rule(policy.eligible_if)
        if eligible is None or not eligible.evaluate(event.model_dump(mode="json")):
            return suppressed("ineligible")
    bucket = sample_bucket(
        workspace_id=touchpoint.workspace_id, customer_id=customer.id, touchpoint=event.touchpoint
    )
    if bucket >= policy.sample:
        return suppressed("sampled_out")

    channel = choose_channel(
        customer=customer, order=policy.channels, channels=config.channels, profile=profile
    )
    kind = config.channels[channel].kind if channel else None
    slot = _Slot(
        windows=effective_window(policy.send_window, kind),
        zone=customer_zone(customer.timezone, config.timezone),
        expires_at=event.occurred_at + policy.expire_after,
    )
    fatigue = counted(
        config.fatigue, history, touchpoint=event.touchpoint, survey=survey_key, channel=channel
    )
    ready_at = event.occurred_at + policy.delay
    send_at, reason = _schedule(ready_at=ready_at, now=now, slot=slot, fatigue=fatigue)
    if send_at is None:
        return suppressed(reason)
    if channel is None:
        return suppressed("no_channel")
    return Decision(
        outcome="scheduled",
        reason=reason,
        survey=survey_key,
        metric=survey.metric,
        channel=channel,
        send_at=send_at,
        expires_at=slot.expires_at,
    )


def next_reminder(
    *,
    sent_at: datetime,
    reminder: Reminder | None,
    reminders_sent: int,
    answered: bool,
    window: SendWindow,
    zone: ZoneInfo,
    channel_kind: str,
    expires_at: datetime,
) -> datetime | None:
    """When to remind the customer of an unanswered invitation, or None if not at all.

    `sent_at` is when the invitation or its latest reminder left; a reminder waits
    `reminder.after` from it, keeps to the same hours as the invitation, and is
    dropped when that would be at or past the invitation's expiry.
    """
    if reminder is None or answered or reminders_sent >= reminder.max:
        return None
    windows = effective_window(window, channel_kind)
    if not windows:
        return None
    at = first_send_time(sent_at + reminder.after, windows, zone)
    return at if at < expires_at else None
