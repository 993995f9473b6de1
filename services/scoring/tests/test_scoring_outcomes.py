"""The pure decisions of business outcomes: bands, windows, intervals, withholding, censoring.

Expected values are computed by hand (Wilson: p=3/4, n=4 gives 30.0636..95.4414; the
mean of 10, 20, 30, 0 is 15 with s² = (1400 - 60²/4)/3 = 500/3, margin 1.96·s/2).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cxloop_scoring.outcomes import (
    MAX_GROUPS,
    ContactRow,
    ContactSlice,
    OutcomeSlice,
    ReportedRow,
    ScoreOutcomeRow,
    band_of,
    build_outcomes,
    build_resolution,
    contact_touchpoints,
    mean_interval,
    observation_window,
)
from cxloop_shared.errors import Unprocessable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("metric", "bands"),
    [
        ("nps", ["detractors"] * 7 + ["passives"] * 2 + ["promoters"] * 2),
        ("csat", [None, "dissatisfied", "dissatisfied", "neutral", "satisfied", "satisfied"]),
        ("ces", [None, *["disagree"] * 3, "neutral", *["agree"] * 3]),
        ("yes_no", ["no", "yes", None]),
    ],
)
def test_every_score_falls_in_its_band(metric: str, bands: list[str | None]) -> None:
    assert [band_of(metric, score) for score in range(len(bands))] == bands  # type: ignore[arg-type]


def test_the_default_window_ends_where_follow_ups_are_over() -> None:
    assert observation_window(start=None, end=None, days=7, now=NOW) == (
        NOW - timedelta(days=37),
        NOW - timedelta(days=7),
    )
    start, end = NOW - timedelta(days=400), NOW
    assert observation_window(start=start, end=end, days=365, now=NOW) == (start, end)


@pytest.mark.parametrize(
    ("start", "end", "days", "detail"),
    [
        (None, None, 0, "days: must be between 1 and 365"),
        (None, None, 366, "days: must be between 1 and 365"),
        (NOW, NOW, 7, "to: 2026-11-23T12:00:00+00:00 must be after from"),
        (NOW - timedelta(days=3), None, 7, "(by default now - 7 days) must be after from"),
        (NOW - timedelta(days=401), NOW, 7, "over the maximum of 400 days"),
    ],
)
def test_a_bad_window_names_what_is_wrong(
    start: datetime | None, end: datetime | None, days: int, detail: str
) -> None:
    with pytest.raises(Unprocessable, match=re.escape(detail)):
        observation_window(start=start, end=end, days=days, now=NOW)


def test_contact_touchpoints_may_repeat_or_be_comma_separated() -> None:
    given = ["ticket_closed", "call_ended, chat_closed", "ticket_closed"]
    assert contact_touchpoints(given) == ("ticket_closed", "call_ended", "chat_closed")


@pytest.mark.parametrize(
    ("given", "detail"),
    [
        ([], "at least one"),
        (["ticket_closed,"], "'' is not a touchpoint key"),
        (["a b"], "'a b' is not a touchpoint key"),
        ([",".join(f"t{i}" for i in range(21))], "at most 20"),
    ],
)
def test_bad_contact_touchpoints_are_refused(given: list[str], detail: str) -> None:
    with pytest.raises(Unprocessable, match=f"touchpoint: .*{detail}"):
        contact_touchpoints(given)


def test_mean_interval_is_the_normal_approximation() -> None:
    mean, interval = mean_interval(Decimal(60), Decimal(1400), 4)
    assert mean == 15.0
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((2.348254, 27.651746))
    assert mean_interval(Decimal("12.5"), Decimal("156.25"), 1) == (12.5, None)
    assert mean_interval(Decimal(0), Decimal(0), 0) == (None, None)
    _, flat = mean_interval(Decimal(30), Decimal(300), 3)
    assert flat is not None
    assert (flat.low, flat.high) == (10.0, 10.0)


def outcome_slice(metric: str = "nps") -> OutcomeSlice:
    return OutcomeSlice(
        workspace_id="ws",
        metric=metric,  # type: ignore[arg-type]
        touchpoint="checkout",
        return_touchpoint="checkout",
        revenue_touchpoint="checkout",
        amount=("order_value", "amount"),
        currency=None,
        days=30,
        start=NOW - timedelta(days=60),
        end=NOW - timedelta(days=30),
    )


def row(
    score: int,
    customers: int,
    returned: int,
    revenue: int,
    squares: int,
    *,
    observable: bool = True,
    currencies: frozenset[str] = frozenset(),
) -> ScoreOutcomeRow:
    return ScoreOutcomeRow(
        score=score,
        observable=observable,
        customers=customers,
        returned=returned,
        revenue=Decimal(revenue),
        revenue_squares=Decimal(squares),
        currencies=currencies,
    )


def test_bands_sum_their_scores_and_withhold_estimates_below_min_n() -> None:
    rows = [
        # Promoters spent 10 and 20 (score 10), 30 and 0 (score 9): mean 15.
        row(10, 2, 2, 30, 500, currencies=frozenset({"EUR"})),
        row(9, 2, 1, 30, 900),
        row(
            9, 1, 0, 0, 0, observable=False, currencies=frozenset({"USD"})
        ),  # censored: counted apart
        row(8, 1, 1, 5, 25),
    ]
    report = build_outcomes(where=outcome_slice(), rows=rows, min_n=4, now=NOW)
    promoters, passives, detractors = report.bands
    assert promoters.band == "promoters"
    assert promoters.scores == [9, 10]
    assert (promoters.customers, promoters.censored, promoters.returned) == (4, 1, 3)
    assert promoters.return_rate == 75.0
    assert promoters.return_interval is not None
    assert (promoters.return_interval.low, promoters.return_interval.high) == pytest.approx(
        (30.063605, 95.441394)
    )
    assert (promoters.revenue, promoters.revenue_per_customer) == (60.0, 15.0)
    assert promoters.revenue_interval is not None
    assert promoters.revenue_interval.low == pytest.approx(2.348254)
    assert promoters.withheld_reason is None

    assert passives.model_dump() == {
        "band": "passives",
        "scores": [7, 8],
        "customers": 1,
        "censored": 0,
        "returned": 1,
        "return_rate": None,
        "return_interval": None,
        "revenue": 5.0,
        "revenue_per_customer": None,
        "revenue_interval": None,
        "withheld_reason": "n=1 is below the workspace minimum of 4",
    }
    assert (detractors.customers, detractors.revenue, detractors.return_rate) == (0, 0.0, None)
    assert detractors.withheld_reason == "n=0 is below the workspace minimum of 4"

    total = report.total
    assert total.band is None
    assert total.scores == list(range(11))
    assert (total.customers, total.censored, total.returned, total.revenue) == (5, 1, 4, 65.0)
    assert total.return_rate == 80.0
    assert report.currencies == ["EUR"], "a censored customer's currency was never counted"
    assert (report.observed_at, report.min_n, report.days) == (NOW, 4, 30)


def test_csat_bands_read_highest_first() -> None:
    rows = [row(5, 1, 0, 0, 0), row(3, 2, 1, 0, 0), row(1, 3, 3, 0, 0)]
    report = build_outcomes(where=outcome_slice("csat"), rows=rows, min_n=1, now=NOW)
    assert [(b.band, b.customers, b.return_rate) for b in report.bands] == [
        ("satisfied", 1, 0.0),
        ("neutral", 2, 50.0),
        ("dissatisfied", 3, 100.0),
    ]


def test_rows_of_one_score_with_different_currencies_add_up() -> None:
    rows = [
        row(10, 1, 1, 10, 100, currencies=frozenset({"EUR"})),
        row(10, 2, 1, 20, 400, currencies=frozenset({"EUR", "USD"})),
        row(10, 3, 0, 0, 0),
    ]
    report = build_outcomes(where=outcome_slice(), rows=rows, min_n=1, now=NOW)
    assert (report.bands[0].customers, report.bands[0].returned, report.bands[0].revenue) == (
        6,
        2,
        30.0,
    )
    assert report.bands[0].revenue_per_customer == 5.0
    assert report.currencies == ["EUR", "USD"]


def contact_slice(group_by: str | None = "queue") -> ContactSlice:
    return ContactSlice(
        workspace_id="ws",
        touchpoints=("ticket_closed",),
        days=7,
        start=NOW - timedelta(days=30),
        end=NOW,
        group_by=group_by,  # type: ignore[arg-type]
    )


def test_resolution_per_group_beside_the_reported_one() -> None:
    contacts = [
        ContactRow(group="billing", contacts=5, censored=1, resolved=3),
        ContactRow(group=None, contacts=2, censored=0, resolved=1),
        ContactRow(group="tech", contacts=6, censored=0, resolved=6),
    ]
    reported = [
        ReportedRow(group="billing", score=1, answers=4),
        ReportedRow(group="billing", score=0, answers=1),
        ReportedRow(group="returns", score=1, answers=1),  # contacts elsewhere in the window
    ]
    report = build_resolution(
        where=contact_slice(), contacts=contacts, reported=reported, min_n=5, now=NOW
    )
    assert [group.value for group in report.groups] == ["billing", "tech", None, "returns"]
    billing = report.groups[0]
    assert (billing.observed.contacts, billing.observed.censored) == (5, 1)
    assert billing.observed.fcr == 60.0
    assert billing.observed.interval is not None
    assert (billing.observed.interval.low, billing.observed.interval.high) == pytest.approx(
        (23.071993, 88.238177)
    )
    assert (billing.reported.n, billing.reported.score) == (5, 80.0)
    assert billing.reported.interval is not None
    assert billing.reported.interval.low == pytest.approx(37.552826)
    unrecorded = report.groups[2]
    assert unrecorded.observed.fcr is None
    assert unrecorded.observed.withheld_reason == "n=2 is below the workspace minimum of 5"
    assert unrecorded.reported.n == 0
    total = report.total
    assert (total.value, total.observed.contacts, total.observed.resolved) == (None, 13, 10)
    assert total.observed.censored == 1
    assert (total.reported.n, total.reported.details) == (6, {"yes": 5})
    assert report.groups_truncated is False


def test_without_group_by_only_the_total() -> None:
    contacts = [ContactRow(group=None, contacts=5, censored=0, resolved=5)]
    report = build_resolution(
        where=contact_slice(None), contacts=contacts, reported=[], min_n=5, now=NOW
    )
    assert report.groups == []
    assert report.total.observed.fcr == 100.0


def test_only_the_groups_with_most_contacts_are_listed() -> None:
    contacts = [
        ContactRow(group=f"agent-{i:04d}", contacts=i, censored=0, resolved=0)
        for i in range(MAX_GROUPS + 10)
    ]
    report = build_resolution(
        where=contact_slice("agent"), contacts=contacts, reported=[], min_n=5, now=NOW
    )
    assert len(report.groups) == MAX_GROUPS
    assert report.groups_truncated is True
    assert report.groups[0].value == f"agent-{MAX_GROUPS + 9:04d}"
    assert report.total.observed.contacts == sum(range(MAX_GROUPS + 10))
