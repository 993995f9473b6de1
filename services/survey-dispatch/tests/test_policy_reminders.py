"""Reminders: only unanswered, a bounded number, in the same hours, before expiry."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cxloop_dispatch.policy import next_reminder
from cxloop_shared.config import Reminder, SendWindow
from hypothesis import given
from hypothesis import strategies as st
from test_policy import BERLIN, SMS_HOURS, clock_times, inside, instants, zones

SENT = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)
TWO_DAYS = Reminder(after=timedelta(days=2), max=1)
DAYTIME = SendWindow(start=time(9), end=time(20))


def remind(**arguments: Any) -> datetime | None:
    """`next_reminder` for an email sent on Monday at 10:00 in Berlin, expiring in a week."""
    defaults: dict[str, Any] = {
        "sent_at": SENT,
        "reminder": TWO_DAYS,
        "reminders_sent": 0,
        "answered": False,
        "window": DAYTIME,
        "zone": BERLIN,
        "channel_kind": "smtp",
        "expires_at": SENT + timedelta(days=7),
    }
    return next_reminder(**(defaults | arguments))


def test_an_unanswered_invitation_is_reminded_after_the_configured_wait() -> None:
    assert remind() == SENT + timedelta(days=2)


@pytest.mark.parametrize(
    "arguments",
    [
        {"reminder": None},
        {"answered": True},
        {"reminders_sent": 1},
        {"reminder": Reminder(after=timedelta(days=1), max=0)},
    ],
)
def test_no_reminder_without_a_need_for_one(arguments: dict[str, Any]) -> None:
    assert remind(**arguments) is None


def test_a_second_reminder_waits_from_the_first() -> None:
    twice = Reminder(after=timedelta(days=2), max=2)
    first = SENT + timedelta(days=2)

    assert remind(reminder=twice, reminders_sent=1, sent_at=first) == SENT + timedelta(days=4)


def test_a_reminder_due_at_night_waits_for_the_window() -> None:
    evening = datetime(2026, 3, 2, 19, 30, tzinfo=BERLIN)

    assert remind(sent_at=evening, reminder=Reminder(after=timedelta(hours=1))) == datetime(
        2026, 3, 3, 9, 0, tzinfo=BERLIN
    )


def test_a_text_reminder_keeps_to_sms_hours() -> None:
    late_window = SendWindow(start=time(18), end=time(23))
    at = remind(window=late_window, channel_kind="twilio")

    assert at == datetime(2026, 3, 4, 18, 0, tzinfo=BERLIN)
    night = SendWindow(start=time(22), end=time(6))
    assert remind(window=night, channel_kind="twilio") is None


def test_a_reminder_at_or_after_expiry_is_dropped() -> None:
    assert remind(expires_at=SENT + timedelta(days=2)) is None
    assert remind(expires_at=SENT + timedelta(days=2, microseconds=1)) == SENT + timedelta(days=2)


@given(
    sent_at=instants,
    after=st.timedeltas(timedelta(minutes=1), timedelta(days=5)),
    sent_count=st.integers(0, 3),
    most=st.integers(0, 3),
    answered=st.booleans(),
    start=clock_times,
    end=clock_times,
    zone_name=zones,
    channel_kind=st.sampled_from(["smtp", "twilio", "whatsapp", "webhook"]),
    lifetime=st.timedeltas(timedelta(0), timedelta(days=10)),
)
def test_a_reminder_is_always_inside_the_window_and_before_expiry(
    sent_at: datetime,
    after: timedelta,
    sent_count: int,
    most: int,
    answered: bool,
    start: time,
    end: time,
    zone_name: str,
    channel_kind: str,
    lifetime: timedelta,
) -> None:
    zone = ZoneInfo(zone_name)
    window = SendWindow(start=start, end=end)
    expires_at = sent_at + lifetime

    at = next_reminder(
        sent_at=sent_at,
        reminder=Reminder(after=after, max=most),
        reminders_sent=sent_count,
        answered=answered,
        window=window,
        zone=zone,
        channel_kind=channel_kind,
        expires_at=expires_at,
    )

    if answered or sent_count >= most:
        assert at is None
    if at is None:
        return
    local = at.astimezone(zone).time()
    assert sent_at + after <= at < expires_at
    assert inside(window, local)
    if channel_kind in ("twilio", "whatsapp"):
        assert SMS_HOURS.start <= local < SMS_HOURS.end
