"""The dispatch policy: which touchpoints become invitations, on which channel, and when."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cxloop_dispatch.policy import (
    SMS_HOURS,
    choose_channel,
    decide,
    effective_window,
    next_send_time,
    sample_bucket,
)
from cxloop_shared.config import SendWindow, WorkspaceConfig
from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived
from hypothesis import assume, given
from hypothesis import strategies as st

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")
ADA = Customer(id="c-1", email="ada@example.com")

# Zones with odd offsets, half-hour DST, DST in both hemispheres, and none at all.
ZONES = [
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "America/New_York",
    "Europe/Berlin",
    "Pacific/Chatham",
    "UTC",
]
# Days on which some of those zones change their clocks.
DST_DAYS = [
    datetime(2025, 3, 9, tzinfo=UTC),
    datetime(2025, 3, 30, tzinfo=UTC),
    datetime(2025, 4, 6, tzinfo=UTC),
    datetime(2025, 10, 5, tzinfo=UTC),
    datetime(2025, 10, 26, tzinfo=UTC),
    datetime(2025, 11, 2, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
]

zones = st.one_of(st.sampled_from(ZONES), st.timezone_keys(allow_prefix=False))
instants = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
    st.builds(
        lambda day, offset: day + offset,
        st.sampled_from(DST_DAYS),
        st.timedeltas(-timedelta(days=3), timedelta(days=3)),
    ),
)
clock_times = st.integers(0, 24 * 60 - 1).map(lambda minute: time(*divmod(minute, 60)))


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    """A daily window with start < end (not across midnight)."""
    start, end = sorted(draw(st.lists(clock_times, min_size=2, max_size=2, unique=True)))
    return SendWindow(start=start, end=end)


def workspace(**policy: Any) -> WorkspaceConfig:
    """A workspace measuring `checkout` with a CSAT survey, by email, SMS or WhatsApp."""
    return WorkspaceConfig.model_validate(
        {
            "workspace": "acme",
            "timezone": "Europe/Berlin",
            "touchpoints": {"checkout": {"survey": "csat_checkout", "policy": policy}},
            "surveys": {
                "csat_checkout": {"metric": "csat", "question": {"en": "How was checkout?"}}
            },
            "channels": {
                "email": {"kind": "smtp"},
                "sms": {"kind": "twilio"},
                "whatsapp": {"kind": "whatsapp"},
            },
        }
    )


def received(
    customer: Customer = ADA, *, touchpoint: str = "checkout", occurred_at: datetime = T0
) -> TouchpointReceived:
    return TouchpointReceived(
        workspace_id="acme",
        source="shop",
        received_at=occurred_at,
        event=Touchpoint(
            id="o-1", touchpoint=touchpoint, occurred_at=occurred_at, customer=customer
        ),
    )


def inside(window: SendWindow, at: time) -> bool:
    """Whether a local wall-clock time lies in the window (which may cross midnight)."""
    if window.start < window.end:
        return window.start <= at < window.end
    return at >= window.start or at < window.end


def happens_once(zone: ZoneInfo, day: date, at: time) -> bool:
    """`at` on `day` is neither skipped nor repeated by a clock change in `zone`."""
    naive = datetime.combine(day, at)
    return len({naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}) == 1


def regular_days(zone: ZoneInfo, earliest: datetime, window: SendWindow) -> bool:
    """The window's edges exist exactly once on every day next_send_time may look at."""
    first = earliest.astimezone(zone).date()
    return all(
        happens_once(zone, first + timedelta(days=offset), at)
        for offset in range(-1, 4)
        for at in (window.start, window.end)
    )


# decide: the rules, in order


def test_an_unconfigured_touchpoint_is_not_surveyed() -> None:
    decision = decide(touchpoint=received(touchpoint="refund"), config=workspace(), now=T0)
    assert (decision.outcome, decision.reason) == ("suppressed", "touchpoint_not_configured")
    assert decision.send_at is None


def test_a_workspace_without_configuration_surveys_nothing() -> None:
    decision = decide(touchpoint=received(), config=None, now=T0)
    assert (decision.outcome, decision.reason) == ("suppressed", "touchpoint_not_configured")


def test_a_customer_sampled_out_is_not_surveyed() -> None:
    decision = decide(touchpoint=received(), config=workspace(sample=0.0), now=T0)
    assert (decision.outcome, decision.reason) == ("suppressed", "sampled_out")


def test_a_customer_without_an_address_on_any_channel_is_not_surveyed() -> None:
    customer = Customer(id="c-1", phone="+4915112345678")
    decision = decide(touchpoint=received(customer), config=workspace(channels=["email"]), now=T0)
    assert (decision.outcome, decision.reason) == ("suppressed", "no_channel")


def test_inside_the_window_the_invitation_leaves_now() -> None:
    decision = decide(touchpoint=received(), config=workspace(), now=T0)

    assert decision.outcome == "scheduled"
    assert decision.reason == "scheduled"
    assert (decision.survey, decision.metric, decision.channel) == (
        "csat_checkout",
        "csat",
        "email",
    )
    assert decision.send_at == T0
    assert decision.expires_at == T0 + timedelta(days=3)


def test_the_delay_is_respected() -> None:
    decision = decide(touchpoint=received(), config=workspace(delay="PT2H"), now=T0)

    assert (decision.outcome, decision.reason) == ("scheduled", "scheduled_later")
    assert decision.send_at == T0 + timedelta(hours=2)


def test_a_delay_into_the_night_waits_for_the_next_window() -> None:
    evening = datetime(2026, 3, 2, 19, 30, tzinfo=BERLIN)
    decision = decide(
        touchpoint=received(occurred_at=evening), config=workspace(delay="PT1H"), now=evening
    )

    assert decision.send_at == datetime(2026, 3, 3, 9, 0, tzinfo=BERLIN)


def test_the_window_is_the_customers_local_time() -> None:
    customer = Customer(id="c-1", email="ada@example.com", timezone="America/New_York")
    decision = decide(touchpoint=received(customer), config=workspace(), now=T0)

    assert decision.send_at == datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/New_York"))


def test_a_touchpoint_processed_late_still_respects_the_window() -> None:
    night = datetime(2026, 3, 2, 23, 0, tzinfo=BERLIN)
    decision = decide(touchpoint=received(), config=workspace(), now=night)

    assert decision.send_at == datetime(2026, 3, 3, 9, 0, tzinfo=BERLIN)
    assert decision.expires_at == T0 + timedelta(days=3)


def test_an_invitation_that_could_only_leave_after_it_expires_is_suppressed() -> None:
    too_slow = decide(
        touchpoint=received(), config=workspace(delay="P2D", expire_after="P1D"), now=T0
    )
    too_late = decide(touchpoint=received(), config=workspace(), now=T0 + timedelta(days=4))
    closing = decide(
        touchpoint=received(occurred_at=datetime(2026, 3, 2, 21, 0, tzinfo=BERLIN)),
        config=workspace(expire_after="PT6H"),
        now=datetime(2026, 3, 2, 21, 0, tzinfo=BERLIN),
    )

    for decision in (too_slow, too_late, closing):
        assert (decision.outcome, decision.reason) == ("suppressed", "expired")


# channels


def test_the_preferred_channel_comes_first_when_it_can_reach_the_customer() -> None:
    channels = workspace().channels
    both = Customer(id="c-1", email="a@example.com", phone="+14155550100", preferred_channel="sms")
    no_phone = Customer(id="c-1", email="a@example.com", preferred_channel="sms")
    unknown = Customer(id="c-1", email="a@example.com", preferred_channel="pigeon")
    order = ["preferred", "email"]

    assert choose_channel(customer=both, order=order, channels=channels) == "sms"
    assert choose_channel(customer=no_phone, order=order, channels=channels) == "email"
    assert choose_channel(customer=unknown, order=order, channels=channels) == "email"
    assert choose_channel(customer=ADA, order=["sms"], channels=channels) is None


def test_an_sms_is_scheduled_for_a_customer_reachable_by_phone() -> None:
    customer = Customer(id="c-1", phone="+4915112345678")
    decision = decide(
        touchpoint=received(customer), config=workspace(channels=["email", "sms"]), now=T0
    )
    assert (decision.outcome, decision.channel) == ("scheduled", "sms")


def test_sms_hours_narrow_the_window_but_other_channels_keep_it() -> None:
    wide = SendWindow(start=time(7), end=time(22))
    narrow = SendWindow(start=time(12), end=time(14))
    night = SendWindow(start=time(22), end=time(6))

    assert effective_window(wide, "smtp") == (wide,)
    assert effective_window(night, "webhook") == (night,)
    assert effective_window(wide, "twilio") == (SMS_HOURS,)
    assert effective_window(wide, "whatsapp") == (SMS_HOURS,)
    assert effective_window(narrow, "twilio") == (narrow,)


@pytest.mark.parametrize(
    ("start", "end", "parts"),
    [
        (time(20), time(2), [(time(20), time(21))]),
        (time(20), time(9), [(time(8), time(9)), (time(20), time(21))]),
        (time(0), time(0), [(time(8), time(21))]),
        (time(22), time(23), []),
        (time(0), time(7), []),
        (time(21), time(8), []),
        (time(7, 30), time(8, 0, 30), [(time(8), time(8, 0, 30))]),
    ],
)
def test_sms_hours_keep_only_the_daytime_parts_of_a_window(
    start: time, end: time, parts: list[tuple[time, time]]
) -> None:
    window = SendWindow(start=start, end=end)

    clipped = effective_window(window, "twilio")

    assert [(part.start, part.end) for part in clipped] == parts


# sampling


@given(workspace_id=st.text(min_size=1), customer_id=st.text(min_size=1), touchpoint=st.text())
def test_the_sample_bucket_is_stable_and_in_range(
    workspace_id: str, customer_id: str, touchpoint: str
) -> None:
    bucket = sample_bucket(
        workspace_id=workspace_id, customer_id=customer_id, touchpoint=touchpoint
    )
    assert 0.0 <= bucket < 1.0
    assert bucket == sample_bucket(
        workspace_id=workspace_id, customer_id=customer_id, touchpoint=touchpoint
    )


def test_the_sample_rate_is_roughly_the_share_sampled_in() -> None:
    buckets = [
        sample_bucket(workspace_id="acme", customer_id=f"c-{n}", touchpoint="checkout")
        for n in range(2000)
    ]
    assert 0.45 < sum(bucket < 0.5 for bucket in buckets) / len(buckets) < 0.55


@given(
    customer_id=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    rates=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2),
)
def test_raising_the_sample_rate_only_adds_customers(customer_id: str, rates: list[float]) -> None:
    low, high = sorted(rates)
    touchpoint = received(Customer(id=customer_id, email="a@example.com"))

    def sampled_in(rate: float) -> bool:
        decision = decide(touchpoint=touchpoint, config=workspace(sample=rate), now=T0)
        return decision.reason != "sampled_out"

    assert sampled_in(low) == sampled_in(low)
    if sampled_in(low):
        assert sampled_in(high)
    assert sampled_in(1.0)
    assert not sampled_in(0.0)


# the send window


@given(earliest=instants, zone_name=zones, window=windows())
def test_the_send_time_is_the_first_moment_inside_the_window(
    earliest: datetime, zone_name: str, window: SendWindow
) -> None:
    zone = ZoneInfo(zone_name)
    assume(regular_days(zone, earliest, window))

    send_at = next_send_time(earliest, window, zone)

    local = send_at.astimezone(zone)
    assert send_at >= earliest
    assert send_at.utcoffset() == timedelta(0)
    assert window.start <= local.time() < window.end
    if inside(window, earliest.astimezone(zone).time()):
        assert send_at == earliest
    else:
        assert local.time() == window.start
        assert send_at - earliest < timedelta(days=1, hours=3)


def test_windows_follow_dst_changes() -> None:
    window = SendWindow(start=time(9), end=time(10))
    saturday_evening = datetime(2025, 3, 29, 20, 0, tzinfo=BERLIN)

    sunday = next_send_time(saturday_evening, window, BERLIN)

    assert sunday == datetime(2025, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST, a day of 23 hours


@given(
    occurred_at=instants,
    zone_name=zones,
    window=windows().filter(lambda w: w.start < SMS_HOURS.end and w.end > SMS_HOURS.start),
)
def test_sms_leaves_in_daytime_inside_the_configured_window(
    occurred_at: datetime, zone_name: str, window: SendWindow
) -> None:
    zone = ZoneInfo(zone_name)
    assume(regular_days(zone, occurred_at, window))
    assume(regular_days(zone, occurred_at, SMS_HOURS))
    customer = Customer(id="c-1", phone="+4915112345678", timezone=zone_name)
    config = workspace(channels=["sms"], send_window=window.model_dump())

    decision = decide(
        touchpoint=received(customer, occurred_at=occurred_at), config=config, now=occurred_at
    )

    assert decision.outcome == "scheduled"
    assert decision.send_at is not None
    local = decision.send_at.astimezone(zone).time()
    assert SMS_HOURS.start <= local < SMS_HOURS.end
    assert window.start <= local < window.end


@given(
    occurred_at=instants,
    processed_after=st.timedeltas(timedelta(0), timedelta(days=6)),
    delay=st.timedeltas(timedelta(0), timedelta(days=4)),
    expire_after=st.timedeltas(timedelta(minutes=1), timedelta(days=5)),
    zone_name=zones,
    start=clock_times,
    end=clock_times,
    channel=st.sampled_from(["email", "sms"]),
)
def test_a_scheduled_invitation_always_leaves_before_it_expires(
    occurred_at: datetime,
    processed_after: timedelta,
    delay: timedelta,
    expire_after: timedelta,
    zone_name: str,
    start: time,
    end: time,
    channel: str,
) -> None:
    customer = Customer(id="c-1", email="a@example.com", phone="+14155550100", timezone=zone_name)
    config = workspace(
        channels=[channel],
        delay=delay,
        expire_after=expire_after,
        send_window={"start": start, "end": end},
    )
    now = occurred_at + processed_after

    decision = decide(
        touchpoint=received(customer, occurred_at=occurred_at), config=config, now=now
    )

    if decision.outcome == "suppressed":
        assert decision.reason in ("expired", "outside_sms_hours")
        return
    assert decision.send_at is not None
    assert decision.expires_at == occurred_at + expire_after
    earliest = max(now, occurred_at + delay)
    assert earliest <= decision.send_at < decision.expires_at
    if decision.send_at > earliest:
        assert decision.reason == "quiet_hours_deferred"
    else:
        assert decision.reason == ("scheduled" if decision.send_at == now else "scheduled_later")


# Clock changes, windows across midnight and SMS hours


@pytest.mark.parametrize(
    ("zone_name", "earliest", "start", "end"),
    [
        # The window closes at 02:30, a time skipped that night: 03:10 is after it.
        ("Europe/Berlin", datetime(2025, 3, 30, 3, 10), time(1), time(2, 30)),
        ("America/St_Johns", datetime(2025, 3, 9, 3, 10), time(1), time(2, 30)),
        ("Australia/Adelaide", datetime(2025, 10, 5, 3, 10), time(1), time(2, 30)),
        # The whole window is skipped that night: the next one is tomorrow's.
        ("Europe/Berlin", datetime(2025, 3, 30, 1, 10), time(2), time(2, 45)),
    ],
)
def test_a_window_edge_skipped_by_dst_keeps_the_invitation_inside_the_window(
    zone_name: str, earliest: datetime, start: time, end: time
) -> None:
    zone = ZoneInfo(zone_name)
    window = SendWindow(start=start, end=end)

    send_at = next_send_time(earliest.replace(tzinfo=zone), window, zone)

    assert inside(window, send_at.astimezone(zone).time())


def test_a_window_across_midnight_is_open_after_midnight() -> None:
    window = SendWindow(start=time(20), end=time(2))
    one_am = datetime(2026, 6, 2, 1, 0, tzinfo=BERLIN)

    assert next_send_time(one_am, window, BERLIN) == one_am


@pytest.mark.parametrize(
    ("start", "end", "local_now", "expected"),
    [
        (time(22), time(23), time(12), None),
        (time(0), time(7), time(21, 30), None),
        (time(20), time(2), time(22, 30), datetime(2026, 6, 3, 20, 0, tzinfo=BERLIN)),
        (time(20), time(9), time(21, 30), datetime(2026, 6, 3, 8, 0, tzinfo=BERLIN)),
    ],
)
def test_sms_never_leaves_at_night_whatever_the_window(
    start: time, end: time, local_now: time, expected: datetime | None
) -> None:
    window = SendWindow(start=start, end=end)
    customer = Customer(id="c-1", phone="+4915112345678", timezone="Europe/Berlin")
    config = workspace(channels=["sms"], send_window=window.model_dump())
    now = datetime.combine(date(2026, 6, 2), local_now, tzinfo=BERLIN)

    decision = decide(touchpoint=received(customer, occurred_at=now), config=config, now=now)

    if expected is None:
        assert (decision.outcome, decision.reason) == ("suppressed", "outside_sms_hours")
    else:
        assert (decision.outcome, decision.reason) == ("scheduled", "quiet_hours_deferred")
        assert decision.send_at == expected


def test_a_window_repeated_by_dst_opens_at_its_second_reading() -> None:
    window = SendWindow(start=time(2, 30), end=time(5))
    before = datetime(2025, 10, 26, 0, 10, tzinfo=UTC)  # 02:10 CEST, before clocks go back

    send_at = next_send_time(before, window, BERLIN)

    assert send_at == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET, the second one


any_windows = st.builds(SendWindow, start=clock_times, end=clock_times)


@given(earliest=instants, zone_name=zones, window=any_windows)
def test_the_send_time_is_inside_the_window_on_every_day_in_every_zone(
    earliest: datetime, zone_name: str, window: SendWindow
) -> None:
    zone = ZoneInfo(zone_name)

    send_at = next_send_time(earliest, window, zone)

    assert earliest <= send_at < earliest + timedelta(days=3)
    assert inside(window, send_at.astimezone(zone).time())


@given(
    occurred_at=instants,
    zone_name=zones,
    window=any_windows,
    channel=st.sampled_from(["email", "sms", "whatsapp"]),
    delay=st.timedeltas(timedelta(0), timedelta(days=2)),
)
def test_no_invitation_is_scheduled_outside_its_window_in_the_customers_zone(
    occurred_at: datetime, zone_name: str, window: SendWindow, channel: str, delay: timedelta
) -> None:
    zone = ZoneInfo(zone_name)
    customer = Customer(id="c-1", email="a@example.com", phone="+14155550100", timezone=zone_name)
    config = workspace(
        channels=[channel], send_window=window.model_dump(), delay=delay, expire_after="P5D"
    )

    decision = decide(
        touchpoint=received(customer, occurred_at=occurred_at), config=config, now=occurred_at
    )

    if decision.outcome == "suppressed":
        assert decision.reason in ("expired", "outside_sms_hours")
        assert channel != "email" or decision.reason == "expired"
        return
    assert decision.send_at is not None
    local = decision.send_at.astimezone(zone).time()
    assert inside(window, local)
    if channel != "email":
        assert SMS_HOURS.start <= local < SMS_HOURS.end
