"""The policy's rules one by one: each reason string, and the order in which they apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cxloop_dispatch.policy import Profile, Sent, choose_channel, decide, iso_duration
from cxloop_shared.config import FatigueRule, WorkspaceConfig
from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from test_policy import ADA, BERLIN, T0, received, workspace

BOTH = Customer(id="c-1", email="ada@example.com", phone="+4915112345678")
WEEKLY = {"scope": "any_survey", "max": 1, "per": "P7D"}


def with_fatigue(*rules: dict[str, Any], **policy: Any) -> WorkspaceConfig:
    """`workspace(**policy)` with stacked fatigue rules."""
    config = workspace(**policy)
    return config.model_copy(update={"fatigue": [FatigueRule.model_validate(r) for r in rules]})


def sent(days_ago: float, *, channel: str = "email", touchpoint: str = "checkout") -> Sent:
    """An earlier invitation; negative days are one already scheduled for later."""
    return Sent(
        touchpoint=touchpoint,
        survey="csat_checkout",
        channel=channel,
        at=T0 - timedelta(days=days_ago),
    )


def reason(**arguments: Any) -> str:
    """The reason `decide` gives, with the usual touchpoint, workspace and clock by default."""
    arguments = {"touchpoint": received(), "config": workspace(), "now": T0, **arguments}
    return decide(**arguments).reason


# each reason


def test_a_touchpoint_seen_before_is_a_duplicate() -> None:
    assert reason(duplicate=True) == "duplicate"


def test_an_erased_customer_is_never_surveyed() -> None:
    assert reason(profile=Profile(erased=True)) == "erased"


def opted_out(*channels: str) -> Profile:
    return Profile(opted_out=frozenset(channels))


def test_a_customer_opted_out_of_every_reachable_channel_is_not_surveyed() -> None:
    config = workspace(channels=["sms", "email"])
    both = received(BOTH)

    assert (
        reason(touchpoint=both, config=config, profile=opted_out("sms", "email")) == "opted_out:sms"
    )
    assert reason(touchpoint=both, config=config, profile=opted_out("*")) == "opted_out:sms"
    # Only the channels with an address count: Ada has no phone.
    assert reason(config=config, profile=opted_out("email")) == "opted_out:email"


def test_an_opt_out_of_one_channel_falls_back_to_the_next() -> None:
    config = workspace(channels=["sms", "email"])

    decision = decide(
        touchpoint=received(BOTH),
        config=config,
        now=T0,
        profile=opted_out("sms"),
    )

    assert (decision.outcome, decision.channel) == ("scheduled", "email")


def test_an_opt_out_of_a_channel_without_an_address_leaves_no_channel() -> None:
    config = workspace(channels=["sms"])

    assert reason(config=config, profile=opted_out("sms")) == "no_channel"


@pytest.mark.parametrize(
    ("attributes", "eligible"),
    [
        ({}, True),
        ({"auto_resolved": False}, True),
        ({"auto_resolved": None}, True),
        ({"auto_resolved": 1}, True),
        ({"auto_resolved": "true"}, True),
        ({"auto_resolved": True}, False),
    ],
)
def test_the_design_eligibility_rule_means_what_it_says(
    attributes: dict[str, Any], eligible: bool
) -> None:
    config = workspace(eligible_if="attributes.auto_resolved != true")
    event = received().event.model_copy(update={"attributes": attributes})
    touchpoint = received().model_copy(update={"event": event})

    assert (reason(touchpoint=touchpoint, config=config) != "ineligible") is eligible


def test_eligibility_sees_the_whole_touchpoint() -> None:
    customer = Customer(id="c-1", email="ada@example.com", persona="smb-owner")
    touchpoint = TouchpointReceived(
        workspace_id="acme",
        source="shop",
        received_at=T0,
        event=Touchpoint(
            id="o-1",
            touchpoint="checkout",
            occurred_at=T0,
            customer=customer,
            channel="web",
            attributes={"order_value": 120.5},
        ),
    )
    rule = 'customer.persona == "smb-owner" and channel == "web" and attributes.order_value > 100'

    assert reason(touchpoint=touchpoint, config=workspace(eligible_if=rule)) == "scheduled"
    assert reason(touchpoint=received(), config=workspace(eligible_if=rule)) == "ineligible"


def test_an_eligibility_rule_failing_at_run_time_makes_the_touchpoint_ineligible() -> None:
    rule = "attributes.order_value / 0 > 1"

    assert reason(config=workspace(eligible_if=rule)) == "ineligible"


@pytest.mark.parametrize(
    "rule",
    [
        "attributes.order_value ** 2 > 1",  # not allowed
        "attributes.order_value >",  # not an expression
        "().__class__",
        "atributes.order_value > 1",  # a typo in a name
    ],
)
def test_a_broken_eligibility_rule_is_refused_with_the_configuration(rule: str) -> None:
    with pytest.raises(ValidationError, match=r"touchpoints\.checkout\.policy\.eligible_if"):
        workspace(eligible_if=rule)


def test_fatigue_names_the_rule_that_was_exceeded() -> None:
    monthly = {"scope": "same_touchpoint", "max": 1, "per": "P30D"}
    config = with_fatigue(WEEKLY, monthly)

    assert reason(config=config, history=[sent(3)]) == "fatigue:any_survey:P7D"
    assert reason(config=config, history=[sent(10)]) == "fatigue:same_touchpoint:P30D"
    assert reason(config=config, history=[sent(10, touchpoint="refund")]) == "scheduled"
    assert reason(config=config, history=[sent(40)]) == "scheduled"


def test_same_channel_fatigue_counts_each_channel_on_its_own() -> None:
    config = with_fatigue({"scope": "same_channel", "max": 1, "per": "PT12H"})

    assert reason(config=config, history=[sent(0.25, channel="sms")]) == "scheduled"
    assert reason(config=config, history=[sent(0.25)]) == "fatigue:same_channel:PT12H"


def test_an_invitation_already_scheduled_for_later_counts_too() -> None:
    config = with_fatigue(WEEKLY)

    assert reason(config=config, history=[sent(-3)]) == "fatigue:any_survey:P7D"


def test_a_rule_allowing_several_counts_every_span_not_just_the_neighbourhood() -> None:
    config = with_fatigue({"scope": "any_survey", "max": 2, "per": "P7D"})

    # 12 days apart, so no week holds all three.
    assert reason(config=config, history=[sent(6), sent(-6)]) == "scheduled"
    assert reason(config=config, history=[sent(6), sent(-0.5)]) == "fatigue:any_survey:P7D"


def test_a_deferring_rule_waits_until_the_earlier_invitation_ages_out() -> None:
    config = with_fatigue({**WEEKLY, "on_exceed": "defer"}, expire_after="P10D")

    decision = decide(touchpoint=received(), config=config, now=T0, history=[sent(5)])

    assert (decision.outcome, decision.reason) == ("scheduled", "fatigue_deferred")
    assert decision.send_at == T0 + timedelta(days=2)


def test_a_deferral_lands_inside_the_send_window() -> None:
    config = with_fatigue({**WEEKLY, "on_exceed": "defer"}, expire_after="P10D")
    late = Sent(touchpoint="checkout", survey="s", channel="email", at=T0 - timedelta(days=6.5))

    decision = decide(touchpoint=received(), config=config, now=T0, history=[late])

    # Clear at 22:00 Berlin, so the window's next opening: 09:00 the next morning.
    assert decision.send_at == datetime(2026, 3, 3, 9, 0, tzinfo=BERLIN)
    assert decision.reason == "fatigue_deferred"


def test_a_deferral_past_expiry_is_suppressed_with_the_fatigue_reason() -> None:
    config = with_fatigue({**WEEKLY, "on_exceed": "defer"})

    assert reason(config=config, history=[sent(2)]) == "fatigue:any_survey:P7D"


def test_a_deferral_also_steps_over_invitations_scheduled_later() -> None:
    config = with_fatigue({**WEEKLY, "on_exceed": "defer"}, expire_after="P20D")

    decision = decide(touchpoint=received(), config=config, now=T0, history=[sent(5), sent(-4)])

    assert decision.send_at == T0 + timedelta(days=11)


def test_a_dropping_rule_still_drops_at_the_deferred_time() -> None:
    daily = {"scope": "same_channel", "max": 1, "per": "P1D"}
    config = with_fatigue({**WEEKLY, "on_exceed": "defer"}, daily, expire_after="P20D")

    # The weekly rule defers to T0+2d, a day from an email scheduled for T0+2d+1h.
    history = [sent(5, channel="sms"), sent(-2 - 1 / 24)]
    assert reason(config=config, history=history) == "fatigue:same_channel:P1D"


def test_a_rule_allowing_none_never_lets_anything_through() -> None:
    config = with_fatigue({"scope": "any_survey", "max": 0, "per": "P1D", "on_exceed": "defer"})

    assert reason(config=config) == "fatigue:any_survey:P1D"


def test_a_send_the_window_moves_later_says_so() -> None:
    night = datetime(2026, 3, 2, 23, 0, tzinfo=BERLIN)

    assert reason(touchpoint=received(occurred_at=night), now=night) == "quiet_hours_deferred"
    assert reason(config=workspace(delay="PT2H")) == "scheduled_later"
    assert reason() == "scheduled"


# the order of the rules: an event failing two reports the earlier


def test_the_first_failing_rule_is_the_reason() -> None:
    by_phone = received(Customer(id="c-1", phone="+4915112345678"))
    resolved = by_phone.event.model_copy(update={"attributes": {"auto_resolved": True}})
    arguments: dict[str, Any] = {
        "touchpoint": by_phone.model_copy(update={"event": resolved}),
        "now": T0,
        "duplicate": True,
        "profile": Profile(erased=True, opted_out=frozenset({"sms"})),
        "history": [sent(1)],
    }
    policy: dict[str, Any] = {
        "eligible_if": "attributes.auto_resolved != true",
        "sample": 0.0,
        "channels": ["sms"],
        "send_window": {"start": "22:00", "end": "23:00"},
        "delay": "P4D",
    }
    # Each step fixes the rule that failed, so the next one shows.
    steps: list[tuple[str, dict[str, Any]]] = [
        ("duplicate", {"duplicate": False}),
        ("erased", {"profile": opted_out("sms")}),
        ("opted_out:sms", {"profile": None}),
        ("ineligible", {"eligible_if": None}),
        ("sampled_out", {"sample": 1.0}),
        ("fatigue:any_survey:P7D", {"history": []}),
        ("outside_sms_hours", {"send_window": {"start": "09:00", "end": "20:00"}}),
        ("expired", {"delay": "PT0S"}),
        ("scheduled", {}),
    ]
    for expected, fix in steps:
        decision = decide(config=with_fatigue(WEEKLY, **policy), **arguments)
        assert decision.reason == expected
        policy |= {key: value for key, value in fix.items() if key not in arguments}
        arguments |= {key: value for key, value in fix.items() if key in arguments}


def test_an_unconfigured_touchpoint_outranks_everything_but_duplicates() -> None:
    touchpoint = received(touchpoint="refund")
    erased = Profile(erased=True)

    assert reason(touchpoint=touchpoint, profile=erased) == "touchpoint_not_configured"
    assert reason(touchpoint=touchpoint, duplicate=True) == "duplicate"


def test_expiry_outranks_a_missing_channel() -> None:
    unreachable = received(Customer(id="c-1"))

    assert reason(touchpoint=unreachable, config=workspace(delay="P4D")) == "expired"
    assert reason(touchpoint=unreachable) == "no_channel"


# the profile


def test_the_stored_profile_fills_what_the_event_leaves_out() -> None:
    anonymous = received(Customer(id="c-1"))
    profile = Profile(email="ada@example.com", timezone="America/New_York")

    decision = decide(touchpoint=anonymous, config=workspace(), now=T0, profile=profile)

    assert decision.channel == "email"
    assert decision.send_at == datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/New_York"))


def test_the_event_wins_over_the_stored_profile() -> None:
    customer = Customer(id="c-1", email="ada@example.com", timezone="Europe/Berlin")
    profile = Profile(timezone="America/New_York", preferred_channel="sms", phone="+14155550100")

    decision = decide(
        touchpoint=received(customer), config=workspace(channels=["email"]), now=T0, profile=profile
    )

    assert decision.send_at == T0


def test_a_preferred_channel_from_the_profile_is_tried_first() -> None:
    profile = Profile(preferred_channel="sms")
    config = workspace(channels=["preferred", "email"])

    decision = decide(touchpoint=received(BOTH), config=config, now=T0, profile=profile)

    assert decision.channel == "sms"


def test_a_stored_time_zone_that_no_longer_exists_falls_back_to_the_workspace() -> None:
    profile = Profile(timezone="Mars/Olympus_Mons")
    night = datetime(2026, 3, 2, 23, 0, tzinfo=BERLIN)

    decision = decide(touchpoint=received(), config=workspace(), now=night, profile=profile)

    assert decision.send_at == datetime(2026, 3, 3, 9, 0, tzinfo=BERLIN)


def test_channel_choice_skips_opted_out_channels() -> None:
    channels = workspace().channels
    profile = opted_out("sms")

    def choose(order: list[str]) -> str | None:
        return choose_channel(customer=BOTH, order=order, channels=channels, profile=profile)

    assert choose(["sms", "email"]) == "email"
    assert choose(["sms"]) is None


# ISO 8601 durations in reasons


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=7), "P7D"),
        (timedelta(hours=2), "PT2H"),
        (timedelta(days=1, hours=12), "P1DT12H"),
        (timedelta(minutes=30), "PT30M"),
        (timedelta(seconds=90), "PT1M30S"),
        (timedelta(seconds=1.5), "PT1.5S"),
        (timedelta(0), "PT0S"),
        (-timedelta(days=1), "-P1D"),
    ],
)
def test_periods_are_written_as_iso_8601_durations(span: timedelta, text: str) -> None:
    assert iso_duration(span) == text


@given(st.timedeltas(timedelta(0), timedelta(days=3650)))
def test_a_written_period_reads_back_as_itself(span: timedelta) -> None:
    assert TypeAdapter(timedelta).validate_python(iso_duration(span)) == span


def test_decisions_are_in_utc() -> None:
    decision = decide(touchpoint=received(ADA), config=workspace(), now=T0)

    assert decision.send_at is not None
    assert decision.send_at.tzinfo == UTC
