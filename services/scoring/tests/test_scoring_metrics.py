"""The metric formulas, pinned to hand-computed values and checked by properties."""

from __future__ import annotations

import math
import statistics

import pytest
from cxloop_scoring.metrics import (
    ces,
    csat,
    cxi,
    cxi_index,
    cxi_standard_error,
    metric_value,
    nps,
    response_rate,
    wilson_interval,
    with_invitations,
    yes_no,
)
from cxloop_scoring.rollups import histogram_of
from cxloop_shared.events import CXI_ITEMS, Metric
from cxloop_shared.readmodels import MetricValue
from hypothesis import given
from hypothesis import strategies as st


def test_nps_counts_promoters_passives_and_detractors() -> None:
    # 6 promoters (9, 9, 10, 10, 10, 9), 2 passives (7, 8), 2 detractors (0, 6); n = 10.
    # NPS = 100 * (6 - 2) / 10 = 40.
    # margin = 1.96 * 100 * sqrt((0.6 + 0.2 - 0.4**2) / 10) = 196 * sqrt(0.064) = 49.5845
    value = nps(histogram_of([9, 9, 10, 10, 10, 9, 7, 8, 0, 6]), min_n=5)
    assert value.n == 10
    assert value.score == pytest.approx(40.0)
    assert value.interval is not None
    assert value.interval.low == pytest.approx(40 - 49.58451371)
    assert value.interval.high == pytest.approx(40 + 49.58451371)
    assert value.details == {"promoters": 6, "passives": 2, "detractors": 2}
    assert value.withheld_reason is None


def test_nps_interval_is_clipped_to_the_scale() -> None:
    # 9 promoters, 1 detractor: NPS = 80; margin = 196 * sqrt((0.9 + 0.1 - 0.64) / 10)
    # = 196 * sqrt(0.036) = 37.1884, so the interval [42.81, 117.19] is clipped at 100.
    value = nps(histogram_of([10] * 9 + [2]), min_n=5)
    assert value.score == pytest.approx(80.0)
    assert value.interval is not None
    assert value.interval.low == pytest.approx(80 - 37.18838528)
    assert value.interval.high == 100.0


def test_nps_of_only_promoters_has_no_spread() -> None:
    # P/n = 1, D/n = 0: the variance term is 1 + 0 - 1 = 0, so the interval is [100, 100].
    value = nps(histogram_of([9, 10, 10, 9, 10]), min_n=5)
    assert value.score == 100.0
    assert value.interval is not None
    assert (value.interval.low, value.interval.high) == (100.0, 100.0)


def test_csat_is_the_share_of_fours_and_fives_with_a_wilson_interval() -> None:
    # 5 of 8 answers are 4 or 5: CSAT = 62.5.
    # Wilson, p = 0.625, n = 8, z**2 = 3.8416: denominator = 1 + 3.8416/8 = 1.4802;
    # centre = (0.625 + 3.8416/16) / 1.4802 = 0.584448;
    # half = 1.96 * sqrt(0.625*0.375/8 + 3.8416/256) / 1.4802 = 0.278710
    # -> [30.5738, 86.3158] in percent.
    value = csat(histogram_of([5, 5, 4, 3, 1, 4, 5, 2]), min_n=5)
    assert value.n == 8
    assert value.score == pytest.approx(62.5)
    assert value.interval is not None
    assert value.interval.low == pytest.approx(30.57378546)
    assert value.interval.high == pytest.approx(86.31582405)
    assert value.details == {"satisfied": 5}


def test_ces_is_the_mean_with_agreement_and_a_t_free_interval() -> None:
    # Scores 7, 6, 5, 5, 3: mean = 26/5 = 5.2; 4 of 5 agree (5-7): 80%.
    # Squared deviations 3.24 + 0.64 + 0.04 + 0.04 + 4.84 = 8.8; s**2 = 8.8/4 = 2.2;
    # margin = 1.96 * sqrt(2.2) / sqrt(5) = 1.300117 -> [3.899883, 6.500117].
    value = ces(histogram_of([7, 6, 5, 5, 3]), min_n=5)
    assert value.score == pytest.approx(5.2)
    assert value.details == {"pct_agree": pytest.approx(80.0)}
    assert value.interval is not None
    assert value.interval.low == pytest.approx(5.2 - 1.30011692)
    assert value.interval.high == pytest.approx(5.2 + 1.30011692)


def test_ces_of_one_answer_has_no_interval() -> None:
    value = ces(histogram_of([6]), min_n=1)
    assert value.score == 6.0
    assert value.interval is None


def test_yes_no_is_the_share_of_yes_with_a_wilson_interval() -> None:
    # 3 yes of 4: 75%. Wilson, p = 0.75, n = 4: denominator = 1 + 3.8416/4 = 1.9604;
    # centre = (0.75 + 3.8416/8) / 1.9604 = 0.627525;
    # half = 1.96 * sqrt(0.75*0.25/4 + 3.8416/64) / 1.9604 = 0.326889 -> [30.0636, 95.4414].
    value = yes_no(histogram_of([1, 1, 1, 0]), min_n=1)
    assert value.score == pytest.approx(75.0)
    assert value.interval is not None
    assert value.interval.low == pytest.approx(30.06360524)
    assert value.interval.high == pytest.approx(95.44139374)
    assert value.details == {"yes": 3}


def test_below_min_n_the_score_is_withheld_with_the_reason() -> None:
    value = nps(histogram_of([10, 10, 0]), min_n=5)
    assert value == MetricValue(
        metric="nps",
        n=3,
        score=None,
        withheld_reason="n=3 is below the workspace minimum of 5",
    )
    assert value.details == {}
    assert value.interval is None


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "yes_no"])
def test_at_min_n_the_score_is_shown(metric: Metric) -> None:
    # A 1 is on every one of these scales.
    value = metric_value(metric, histogram_of([1] * 5), min_n=5)
    assert value.metric == metric
    assert value.n == 5
    assert value.score is not None


def test_scores_off_the_metrics_scale_are_not_answers() -> None:
    # A 0 and a 9 are not CSAT answers (1-5): n counts the 4 and the 5 only.
    value = csat(histogram_of([0, 9, 4, 5]), min_n=1)
    assert value.n == 2
    assert value.score == 100.0


# Four CX Index answers (effective, easy, enjoyable) and where each counts:
# (5, 5, 4) → +3 (index 6), (3, 4, 2) → 0 (3), (1, 2, 3) → -2 (1), (4, 3, 3) → +1 (4).
CXI_ANSWERS = [(5, 5, 4), (3, 4, 2), (1, 2, 3), (4, 3, 3)]


def test_cx_index_is_the_mean_of_its_items_top_minus_bottom_two_boxes() -> None:
    answers = [dict(zip(CXI_ITEMS, answer, strict=True)) for answer in CXI_ANSWERS]
    histogram = histogram_of(cxi_index(answer) for answer in answers)  # type: ignore[arg-type]
    items = {item: histogram_of(a[i] for a in CXI_ANSWERS) for i, item in enumerate(CXI_ITEMS)}
    value = cxi(histogram, min_n=4, items=items)

    # effective 5,3,1,4: 50% - 25% = 25; easy 5,4,2,3: 50% - 25% = 25; enjoyable 4,2,3,3:
    # 25% - 25% = 0; CXi = (25 + 25 + 0) / 3.
    assert [cxi_index(a) for a in answers] == [6, 3, 1, 4]  # type: ignore[arg-type]
    assert value.n == 4
    assert value.score == pytest.approx(50 / 3)
    assert value.details == pytest.approx({"effective": 25.0, "easy": 25.0, "enjoyable": 0.0})
    # Points 100, 0, -66.67, 33.33: s = 69.3889, margin 1.96 · s / 2 = 68.0011.
    assert value.interval is not None
    assert value.interval.low == pytest.approx(-51.3344, abs=1e-4)
    assert value.interval.high == pytest.approx(84.6678, abs=1e-4)
    assert cxi_standard_error(histogram) == pytest.approx(34.6944, abs=1e-4)


@given(st.lists(st.tuples(*(st.integers(1, 5) for _ in CXI_ITEMS)), min_size=1, max_size=60))
def test_cx_index_from_one_histogram_is_the_definition(answers: list[tuple[int, ...]]) -> None:
    as_items = [dict(zip(CXI_ITEMS, answer, strict=True)) for answer in answers]
    histogram = histogram_of(cxi_index(a) for a in as_items)  # type: ignore[arg-type]

    def top_minus_bottom(i: int) -> float:
        top = sum(answer[i] >= 4 for answer in answers)
        bottom = sum(answer[i] <= 2 for answer in answers)
        return 100 * (top - bottom) / len(answers)

    by_definition = statistics.mean(top_minus_bottom(i) for i in range(len(CXI_ITEMS)))
    value = cxi(histogram, min_n=1)
    assert value.n == len(answers)
    assert value.score == pytest.approx(by_definition, abs=1e-9)


def test_cx_index_below_min_n_is_withheld_but_counted() -> None:
    value = cxi(histogram_of([6, 3, 1]), min_n=5)
    assert (value.n, value.score, value.interval) == (3, None, None)
    assert value.withheld_reason == "n=3 is below the workspace minimum of 5"


def test_response_rate_is_responses_per_invitation_sent() -> None:
    assert response_rate(responses=3, sent=12) == 0.25
    assert response_rate(responses=3, sent=0) is None
    value = with_invitations(csat(histogram_of([5, 4, 3, 5, 5]), min_n=5), sent=20)
    assert (value.invitations_sent, value.response_rate) == (20, 0.25)


def test_wilson_interval_needs_answers() -> None:
    with pytest.raises(ValueError, match="n > 0"):
        wilson_interval(0, 0)


# --- properties -------------------------------------------------------------------------

nps_scores = st.lists(st.integers(0, 10), min_size=1, max_size=200)
csat_scores = st.lists(st.integers(1, 5), min_size=1, max_size=200)
ces_scores = st.lists(st.integers(1, 7), min_size=1, max_size=200)
yes_no_scores = st.lists(st.integers(0, 1), min_size=1, max_size=200)


def _interval_holds(value: MetricValue, low: float, high: float) -> None:
    assert value.score is not None
    assert low <= value.score <= high
    if value.interval is not None:
        assert low <= value.interval.low <= value.score + 1e-9
        assert value.score - 1e-9 <= value.interval.high <= high


@given(nps_scores)
def test_nps_from_the_histogram_is_nps_from_the_raw_scores(scores: list[int]) -> None:
    n = len(scores)
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    expected = 100 * (promoters - detractors) / n
    margin = 196 * math.sqrt(
        (promoters / n + detractors / n - ((promoters - detractors) / n) ** 2) / n
    )
    value = nps(histogram_of(scores), min_n=1)
    assert value.n == n
    assert value.score == pytest.approx(expected)
    assert value.interval is not None
    assert value.interval.low == pytest.approx(max(expected - margin, -100), abs=1e-9)
    assert value.interval.high == pytest.approx(min(expected + margin, 100), abs=1e-9)
    _interval_holds(value, -100, 100)


@given(csat_scores)
def test_csat_from_the_histogram_is_csat_from_the_raw_scores(scores: list[int]) -> None:
    value = csat(histogram_of(scores), min_n=1)
    assert value.score == pytest.approx(100 * sum(1 for s in scores if s >= 4) / len(scores))
    _interval_holds(value, 0, 100)


@given(ces_scores)
def test_ces_from_the_histogram_is_ces_from_the_raw_scores(scores: list[int]) -> None:
    value = ces(histogram_of(scores), min_n=1)
    assert value.score == pytest.approx(statistics.fmean(scores))
    assert value.details["pct_agree"] == pytest.approx(
        100 * sum(1 for s in scores if s >= 5) / len(scores)
    )
    if len(scores) >= 2:
        margin = 1.96 * statistics.stdev(scores) / math.sqrt(len(scores))
        assert value.interval is not None
        assert value.interval.low == pytest.approx(max(statistics.fmean(scores) - margin, 1))
        assert value.interval.high == pytest.approx(min(statistics.fmean(scores) + margin, 7))
    _interval_holds(value, 1, 7)


@given(yes_no_scores)
def test_yes_no_from_the_histogram_is_yes_share_of_the_raw_scores(scores: list[int]) -> None:
    value = yes_no(histogram_of(scores), min_n=1)
    assert value.score == pytest.approx(100 * sum(scores) / len(scores))
    _interval_holds(value, 0, 100)


@given(nps_scores, st.integers(9, 10), st.integers(0, 6))
def test_a_promoter_never_lowers_nps_and_a_detractor_never_raises_it(
    scores: list[int], promoter: int, detractor: int
) -> None:
    before = nps(histogram_of(scores), min_n=1).score
    with_promoter = nps(histogram_of([*scores, promoter]), min_n=1).score
    with_detractor = nps(histogram_of([*scores, detractor]), min_n=1).score
    assert before is not None
    assert with_promoter is not None
    assert with_detractor is not None
    assert with_promoter >= before - 1e-9
    assert with_detractor <= before + 1e-9


@given(csat_scores, st.integers(4, 5))
def test_a_satisfied_answer_never_lowers_csat(scores: list[int], satisfied: int) -> None:
    before = csat(histogram_of(scores), min_n=1).score
    after = csat(histogram_of([*scores, satisfied]), min_n=1).score
    assert before is not None
    assert after is not None
    assert after >= before - 1e-9


@given(st.lists(st.integers(0, 10), max_size=30), st.integers(1, 20))
def test_a_score_is_shown_exactly_from_min_n(scores: list[int], min_n: int) -> None:
    value = nps(histogram_of(scores), min_n=min_n)
    assert value.n == len(scores)
    assert (value.score is None) == (len(scores) < min_n)
    assert (value.withheld_reason is None) == (len(scores) >= min_n)
