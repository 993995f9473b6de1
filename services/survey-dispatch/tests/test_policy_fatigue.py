"""Fatigue rules hold for every customer, whatever their history and the stream of touchpoints."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cxloop_dispatch.policy import Sent, decide
from cxloop_shared.config import FatigueRule, SendWindow, WorkspaceConfig
from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_policy import SMS_HOURS, clock_times, inside, zones

START = datetime(2025, 3, 1, tzinfo=UTC)  # a month with clock changes in both hemispheres
TOUCHPOINTS = {"checkout": "csat_checkout", "ticket_closed": "csat_support", "delivered": "nps"}
SCOPE_KEY: dict[str, Callable[[Sent], object]] = {
    "any_survey": lambda sent: None,
    "same_touchpoint": lambda sent: sent.touchpoint,
    "same_survey": lambda sent: sent.survey,
    "same_channel": lambda sent: sent.channel,
}

periods = st.one_of(
    st.sampled_from([timedelta(hours=2), timedelta(days=1), timedelta(days=7)]),
    st.timedeltas(timedelta(minutes=1), timedelta(days=10)),
)
rules = st.builds(
    FatigueRule,
    scope=st.sampled_from(list(SCOPE_KEY)),
    max=st.integers(0, 3),
    per=periods,
    on_exceed=st.sampled_from(["drop", "defer"]),
)
offsets = st.timedeltas(timedelta(0), timedelta(days=30))
earlier = st.builds(
    Sent,
    touchpoint=st.sampled_from(list(TOUCHPOINTS)),
    survey=st.sampled_from(list(TOUCHPOINTS.values())),
    channel=st.sampled_from(["email", "sms"]),
    at=st.timedeltas(-timedelta(days=20), timedelta(days=20)).map(lambda offset: START + offset),
)


def violations(rule: FatigueRule, history: Sequence[Sent]) -> list[list[datetime]]:
    """The `per`-long spans holding more than `max` invitations in one scope.

    Checked by brute force: the fullest span starts at one of its invitations.
    """
    groups: dict[object, list[datetime]] = defaultdict(list)
    for sent in history:
        groups[SCOPE_KEY[rule.scope](sent)].append(sent.at)
    found = []
    for times in groups.values():
        for start in times:
            span = [t for t in times if start <= t < start + rule.per]
            if len(span) > rule.max:
                found.append(sorted(span))
    return found


def config(
    fatigue: list[FatigueRule], window: SendWindow, expire_after: timedelta
) -> WorkspaceConfig:
    policy = {
        "send_window": window.model_dump(),
        "expire_after": expire_after,
        "channels": ["preferred", "email", "sms"],
    }
    return WorkspaceConfig.model_validate(
        {
            "workspace": "acme",
            "timezone": "Europe/Berlin",
            "touchpoints": {
                key: {"survey": survey, "policy": policy} for key, survey in TOUCHPOINTS.items()
            },
            "surveys": {
                survey: {"metric": "csat", "question": {"en": "How was it?"}}
                for survey in TOUCHPOINTS.values()
            },
            "channels": {"email": {"kind": "smtp"}, "sms": {"kind": "twilio"}},
            "fatigue": [rule.model_dump() for rule in fatigue],
        }
    )


@settings(max_examples=300, deadline=None)
@given(
    fatigue=st.lists(rules, min_size=1, max_size=3),
    candidates=st.lists(earlier, max_size=12),
    stream=st.lists(
        st.tuples(st.sampled_from(list(TOUCHPOINTS)), offsets, st.sampled_from(["email", "sms"])),
        min_size=1,
        max_size=12,
    ),
    zone_name=zones,
    start=clock_times,
    end=clock_times,
    expire_after=st.timedeltas(timedelta(hours=1), timedelta(days=14)),
)
def test_no_customer_ever_exceeds_a_fatigue_rule(
    fatigue: list[FatigueRule],
    candidates: list[Sent],
    stream: list[tuple[str, timedelta, str]],
    zone_name: str,
    start: time,
    end: time,
    expire_after: timedelta,
) -> None:
    # A history that keeps the rules already, as dispatch would have left it.
    history: list[Sent] = []
    for sent in candidates:
        if not any(violations(rule, [*history, sent]) for rule in fatigue):
            history.append(sent)
    window = SendWindow(start=start, end=end)
    workspace = config(fatigue, window, expire_after)
    zone = ZoneInfo(zone_name)

    # Touchpoints arrive in order and are decided one by one; each scheduled one counts.
    for number, (touchpoint, offset, preferred) in enumerate(sorted(stream, key=lambda t: t[1])):
        customer = Customer(
            id="c-1",
            email="a@example.com",
            phone="+14155550100",
            timezone=zone_name,
            preferred_channel=preferred,
        )
        occurred_at = START + offset
        happened = Touchpoint(
            id=f"e-{number}", touchpoint=touchpoint, occurred_at=occurred_at, customer=customer
        )
        decision = decide(
            touchpoint=TouchpointReceived(
                workspace_id="acme", source="shop", received_at=occurred_at, event=happened
            ),
            config=workspace,
            now=occurred_at,
            history=history,
        )
        event(decision.reason.split(":")[0])  # how often each rule decides, in the statistics
        if decision.outcome == "suppressed":
            assert decision.reason.startswith(("fatigue:", "expired", "outside_sms_hours"))
            continue
        assert decision.send_at is not None
        assert decision.expires_at is not None
        assert decision.channel is not None
        assert occurred_at <= decision.send_at < decision.expires_at
        local = decision.send_at.astimezone(zone).time()
        assert inside(window, local)
        if decision.channel == "sms":
            assert SMS_HOURS.start <= local < SMS_HOURS.end
        history.append(
            Sent(
                touchpoint=touchpoint,
                survey=TOUCHPOINTS[touchpoint],
                channel=decision.channel,
                at=decision.send_at,
            )
        )

    for rule in fatigue:
        assert violations(rule, history) == [], rule
