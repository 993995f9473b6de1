"""Period-over-period change: standard errors and significance pinned to hand-computed
values, and the comparison a report carries."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_scoring.metrics import (
    ces_standard_error,
    change_standard_error,
    is_significant,
    metric_change,
    nps,
    nps_standard_error,
    proportion_standard_error,
    standard_error,
)
from cxloop_scoring.reports import ScoreRow, SentRow, Slice, build_comparison
from cxloop_scoring.rollups import histogram_of
from hypothesis import given
from hypothesis import strategies as st

NPS_40 = histogram_of([9, 9, 10, 10, 10, 9, 7, 8, 0, 6])  # P 0.6, D 0.2, n 10


def test_the_nps_standard_error_is_its_margin_over_1_96() -> None:
    # 100 * sqrt((0.6 + 0.2 - 0.4**2) / 10) = 100 * sqrt(0.064) = 25.29822
    assert nps_standard_error(NPS_40) == pytest.approx(25.298221)
    margin = nps(NPS_40, min_n=1).interval
    assert margin is not None
    assert nps_standard_error(NPS_40) == pytest.approx((margin.high - 40) / 1.96)


def test_a_percentage_standard_error() -> None:
    # CSAT 5, 5, 4, 3, 1: p = 0.6, n = 5 -> 100 * sqrt(0.24 / 5) = 21.908902
    assert proportion_standard_error(3, 5) == pytest.approx(21.908902)
    assert standard_error("csat", histogram_of([5, 5, 4, 3, 1]), min_n=5) == pytest.approx(
        21.908902
    )
    # yes/no 1, 1, 1, 0: p = 0.75, n = 4 -> 100 * sqrt(0.1875 / 4) = 21.650635
    assert standard_error("yes_no", histogram_of([1, 1, 1, 0]), min_n=1) == pytest.approx(21.650635)


def test_the_ces_standard_error_is_s_over_root_n() -> None:
    # 7, 5, 3, 5: mean 5, squares 4 + 0 + 4 + 0 = 8, s = sqrt(8 / 3), SE = s / 2 = 0.816497
    assert ces_standard_error(histogram_of([7, 5, 3, 5])) == pytest.approx(0.816497)
    assert ces_standard_error(histogram_of([7])) is None


def test_no_standard_error_for_a_withheld_score() -> None:
    assert standard_error("nps", NPS_40, min_n=11) is None
    assert standard_error("cxi", histogram_of([5] * 4), min_n=5) is None
    assert standard_error("csat", histogram_of([]), min_n=0) is None


def test_the_change_error_adds_in_quadrature_and_significance_is_at_1_96() -> None:
    assert change_standard_error(3.0, 4.0) == pytest.approx(5.0)
    assert is_significant(10.0, 5.0)  # 10 > 9.8
    assert is_significant(-10.0, 5.0)
    assert not is_significant(9.8, 5.0)
    assert not is_significant(0.0, 0.0)


def test_a_large_nps_drop_is_significant() -> None:
    # 60/20/20 of 100 -> NPS 40, SE 100 * sqrt(0.64 / 100) = 8; 20/20/60 -> NPS -40, SE 8.
    before = histogram_of([10] * 60 + [8] * 20 + [0] * 20)
    after = histogram_of([10] * 20 + [8] * 20 + [0] * 60)
    change = metric_change("nps", previous=before, current=after, min_n=5)
    assert (change.previous_score, change.score) == (pytest.approx(40.0), pytest.approx(-40.0))
    assert change.change == pytest.approx(-80.0)
    assert change.standard_error == pytest.approx(math.sqrt(128))  # 11.3137
    assert change.significant is True
    assert change.reason is None


def test_a_small_csat_rise_is_not_significant() -> None:
    # 60% of 5 (SE 21.9089) -> 80% of 10 (SE 100 * sqrt(0.16 / 10) = 12.6491):
    # change 20, SE sqrt(480 + 160) = 25.2982, and 20 < 1.96 * 25.2982 = 49.58.
    before = histogram_of([5, 5, 4, 3, 1])
    after = histogram_of([5, 5, 5, 5, 4, 4, 4, 4, 1, 2])
    change = metric_change("csat", previous=before, current=after, min_n=5)
    assert change.change == pytest.approx(20.0)
    assert change.standard_error == pytest.approx(math.sqrt(640))
    assert change.significant is False


def test_no_change_when_either_side_is_withheld() -> None:
    change = metric_change("nps", previous=histogram_of([10, 0, 9]), current=NPS_40, min_n=5)
    assert (change.previous_score, change.score) == (None, pytest.approx(40.0))
    assert (change.change, change.standard_error, change.significant) == (None, None, None)
    assert change.reason == "previous: n=3 is below the workspace minimum of 5"


def test_a_change_without_a_standard_error_is_not_judged() -> None:
    change = metric_change("ces", previous=histogram_of([7]), current=histogram_of([3]), min_n=1)
    assert change.change == pytest.approx(-4.0)
    assert (change.standard_error, change.significant) == (None, None)
    assert change.reason is not None


@given(
    st.lists(st.integers(0, 10), min_size=2, max_size=60),
    st.lists(st.integers(0, 10), min_size=2, max_size=60),
)
def test_the_nps_change_is_significant_exactly_when_its_interval_excludes_zero(
    before: list[int], after: list[int]
) -> None:
    change = metric_change(
        "nps", previous=histogram_of(before), current=histogram_of(after), min_n=1
    )
    assert change.change is not None
    assert change.standard_error is not None
    low, high = (
        change.change - 1.96 * change.standard_error,
        change.change + 1.96 * change.standard_error,
    )
    assert change.significant == (low > 0 or high < 0)


T0 = datetime(2026, 11, 23, tzinfo=UTC)


def test_the_comparison_is_the_previous_window_of_the_same_length() -> None:
    where = Slice(
        workspace_id="acme",
        touchpoint="checkout",
        start=T0,
        end=T0 + timedelta(days=7),
        timezone="UTC",
        granularity="day",
        group_by="channel",
    )
    previous = where.previous()
    assert (previous.start, previous.end) == (T0 - timedelta(days=7), T0)
    assert (previous.granularity, previous.group_by, previous.touchpoint) == (
        "total",
        None,
        "checkout",
    )
    current = [
        ScoreRow("nps", T0, "web", histogram_of([10] * 3)),
        ScoreRow("nps", T0 + timedelta(days=1), "sms", histogram_of([10, 0])),
        ScoreRow("csat", T0, "web", histogram_of([5])),
    ]
    comparison = build_comparison(
        previous=previous,
        min_n=1,
        scores=current,
        previous_scores=[ScoreRow("nps", None, None, histogram_of([0, 0, 10, 8]))],
        previous_sent=[SentRow("nps", None, None, 8)],
    )
    body = comparison.model_dump(mode="json")
    assert (body["from"], body["to"]) == ("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")
    (before,) = comparison.values
    assert (before.metric, before.n, before.score, before.response_rate) == ("nps", 4, -25.0, 0.5)
    nps_change, csat_change = comparison.changes
    # Current NPS over all rows: 4 promoters, 1 detractor of 5 -> 60; previous -25.
    assert (nps_change.metric, nps_change.change) == ("nps", pytest.approx(85.0))
    assert (csat_change.metric, csat_change.previous_score, csat_change.change) == (
        "csat",
        None,
        None,
    )
