"""The metric formulas of DESIGN.md ("Metrics (exact definitions)"), over score histograms.

Every function takes a histogram (11 counts; index = score 0..10) and the workspace's
minimum n, and returns a `MetricValue`. Scores outside a metric's scale (a 0 on a
1-5 CSAT question) are not answers to that question and are not counted. Below the
minimum n the score, its interval and its details are withheld, with the reason.
Intervals are 95% (z = 1.96) and clipped to the metric's scale.

CX Index: three 1-5 items (effective, easy, enjoyable); for each, %(4-5) - %(1-2), and
CXi = their mean. Every answer has all three items, so CXi = 100/3 · mean over answers
of (s_effective + s_easy + s_enjoyable), each s being +1 (4-5), -1 (1-2) or 0 (3). A CX
Index rollup therefore counts each answer once, at index 3 + Σs (0..6, `cxi_index`),
and one histogram gives the score, its exact variance and interval; the items' own
1-5 histograms (rollup metric `cxi.<item>`) give each item's figure in the details.

Period-over-period change: each score's standard error (NPS: its margin / 1.96; CSAT
and yes/no: 100·sqrt(p(1-p)/n); CES and CX Index: s/sqrt(n)), the change's standard
error sqrt(se₁² + se₂²), and significance at 95%: |change| > 1.96·SE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from cxloop_shared.events import CXI_ITEMS, CxiItems, Metric
from cxloop_shared.readmodels import Interval, MetricChange, MetricValue
from cxloop_shared.scales import scale

Z95 = 1.96

# The indexes of a CX Index histogram: 3 + the sum of its items' signs.
CXI_INDEXES = range(0, 7)


def cxi_index(items: CxiItems) -> int:
    """Where a CX Index answer counts in its histogram: 3 + Σ over its items of +1 for a
    4-5, -1 for a 1-2 and 0 for a 3."""
    return 3 + sum((items[item] >= 4) - (items[item] <= 2) for item in CXI_ITEMS)


def answered(metric: Metric, histogram: Sequence[int]) -> int:
    """How many answers in `histogram` lie on `metric`'s scale: the metric's n."""
    indexes = CXI_INDEXES if metric == "cxi" else scale(metric)
    return sum(histogram[index] for index in indexes)


def withheld_reason(n: int, min_n: int) -> str | None:
    """Why a score over `n` answers is withheld, or None when it may be shown."""
    if n < min_n:
        return f"n={n} is below the workspace minimum of {min_n}"
    return None


def _count(histogram: Sequence[int], scores: range) -> int:
    return sum(histogram[score] for score in scores)


def _withheld(metric: Metric, n: int, reason: str) -> MetricValue:
    return MetricValue(metric=metric, n=n, score=None, withheld_reason=reason)


def _clipped(low: float, high: float, *, bounds: tuple[float, float]) -> Interval:
    return Interval(low=max(low, bounds[0]), high=min(high, bounds[1]))


def wilson_interval(successes: int, n: int) -> Interval:
    """The Wilson 95% score interval of a proportion, in percent (0..100)."""
    if n <= 0:
        raise ValueError("a Wilson interval needs n > 0")
    p = successes / n
    z2 = Z95 * Z95
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return _clipped(100 * (centre - half), 100 * (centre + half), bounds=(0.0, 100.0))


def nps(histogram: Sequence[int], *, min_n: int) -> MetricValue:
    """Net Promoter Score (0-10): 100·(P-D)/n with its 95% margin of error.

    Promoters score 9-10, passives 7-8, detractors 0-6. The margin is
    1.96·100·sqrt((P/n + D/n - ((P-D)/n)²)/n); the interval is score ± margin,
    clipped to [-100, 100].
    """
    n = answered("nps", histogram)
    if reason := withheld_reason(n, min_n):
        return _withheld("nps", n, reason)
    promoters = _count(histogram, range(9, 11))
    passives = _count(histogram, range(7, 9))
    detractors = _count(histogram, range(0, 7))
    score = 100 * (promoters - detractors) / n
    share_p, share_d = promoters / n, detractors / n
    variance = share_p + share_d - (share_p - share_d) ** 2
    margin = Z95 * 100 * math.sqrt(max(variance, 0.0) / n)
    return MetricValue(
        metric="nps",
        n=n,
        score=score,
        interval=_clipped(score - margin, score + margin, bounds=(-100.0, 100.0)),
        details={"promoters": promoters, "passives": passives, "detractors": detractors},
    )


def csat(histogram: Sequence[int], *, min_n: int) -> MetricValue:
    """Customer satisfaction (1-5): the percentage of 4s and 5s, with a Wilson 95% interval."""
    n = answered("csat", histogram)
    if reason := withheld_reason(n, min_n):
        return _withheld("csat", n, reason)
    satisfied = _count(histogram, range(4, 6))
    return MetricValue(
        metric="csat",
        n=n,
        score=100 * satisfied / n,
        interval=wilson_interval(satisfied, n),
        details={"satisfied": satisfied},
    )


def ces(histogram: Sequence[int], *, min_n: int) -> MetricValue:
    """Customer effort (1-7, "made it easy"): the mean, and % agree = 100·#(5-7)/n.

    The interval is mean ± 1.96·s/sqrt(n) with the sample standard deviation s,
    clipped to [1, 7]; there is none below two answers.
    """
    n = answered("ces", histogram)
    if reason := withheld_reason(n, min_n):
        return _withheld("ces", n, reason)
    mean = sum(score * histogram[score] for score in scale("ces")) / n
    interval = None
    if n >= 2:
        squares = sum(histogram[score] * (score - mean) ** 2 for score in scale("ces"))
        margin = Z95 * math.sqrt(squares / (n - 1)) / math.sqrt(n)
        interval = _clipped(mean - margin, mean + margin, bounds=(1.0, 7.0))
    return MetricValue(
        metric="ces",
        n=n,
        score=mean,
        interval=interval,
        details={"pct_agree": 100 * _count(histogram, range(5, 8)) / n},
    )


def yes_no(histogram: Sequence[int], *, min_n: int) -> MetricValue:
    """A yes/no question (0 = no, 1 = yes): % yes, with a Wilson 95% interval."""
    n = answered("yes_no", histogram)
    if reason := withheld_reason(n, min_n):
        return _withheld("yes_no", n, reason)
    yes = histogram[1]
    return MetricValue(
        metric="yes_no",
        n=n,
        score=100 * yes / n,
        interval=wilson_interval(yes, n),
        details={"yes": yes},
    )


def _cxi_points(index: int) -> float:
    return 100 * (index - 3) / len(CXI_ITEMS)


def _cxi_deviation(histogram: Sequence[int], n: int, mean: float) -> float:
    squares = sum(histogram[i] * (_cxi_points(i) - mean) ** 2 for i in CXI_INDEXES)
    return math.sqrt(squares / (n - 1))


def cxi(
    histogram: Sequence[int],
    *,
    min_n: int,
    items: Mapping[str, Sequence[int]] | None = None,
) -> MetricValue:
    """CX Index (-100..100): the mean over its three items of %(4-5) - %(1-2).

    `histogram` counts answers by `cxi_index`; the score is 100/3 · mean(index - 3), and
    the interval mean ± 1.96·s/sqrt(n) over the answers' own points, clipped to
    [-100, 100] (none below two answers). `items` (each item's 1-5 histogram) add each
    item's %(4-5) - %(1-2) to the details.
    """
    n = answered("cxi", histogram)
    if reason := withheld_reason(n, min_n):
        return _withheld("cxi", n, reason)
    score = sum(histogram[i] * _cxi_points(i) for i in CXI_INDEXES) / n
    interval = None
    if n >= 2:
        margin = Z95 * _cxi_deviation(histogram, n, score) / math.sqrt(n)
        interval = _clipped(score - margin, score + margin, bounds=(-100.0, 100.0))
    details: dict[str, float] = {}
    for item, counts in sorted((items or {}).items()):
        given = _count(counts, range(1, 6))
        if given:
            details[item] = (
                100 * (_count(counts, range(4, 6)) - _count(counts, range(1, 3))) / given
            )
    return MetricValue(metric="cxi", n=n, score=score, interval=interval, details=details)


class Formula(Protocol):
    """How one metric is computed from a histogram."""

    def __call__(self, histogram: Sequence[int], *, min_n: int) -> MetricValue: ...


FORMULAS: dict[Metric, Formula] = {
    "nps": nps,
    "csat": csat,
    "ces": ces,
    "yes_no": yes_no,
    "cxi": cxi,
}


def metric_value(
    metric: Metric,
    histogram: Sequence[int],
    *,
    min_n: int,
    items: Mapping[str, Sequence[int]] | None = None,
) -> MetricValue:
    """The value of `metric` over `histogram`, by that metric's formula; a CX Index's
    `items` histograms add each item's figure to its details."""
    if metric == "cxi":
        return cxi(histogram, min_n=min_n, items=items)
    return FORMULAS[metric](histogram, min_n=min_n)


def response_rate(*, responses: int, sent: int) -> float | None:
    """Responses per invitation sent (a fraction, not a percentage); None when none was sent."""
    if sent <= 0:
        return None
    return responses / sent


def with_invitations(value: MetricValue, *, sent: int) -> MetricValue:
    """`value` with the invitations sent over the same slice and the response rate."""
    rate = response_rate(responses=value.n, sent=sent)
    return value.model_copy(update={"invitations_sent": sent, "response_rate": rate})


# --- Period-over-period change ----------------------------------------------------------


def proportion_standard_error(successes: int, n: int) -> float:
    """The standard error of a percentage (CSAT, yes/no): 100·sqrt(p(1-p)/n), p = successes/n."""
    if n <= 0:
        raise ValueError("a standard error needs n > 0")
    p = successes / n
    return 100 * math.sqrt(p * (1 - p) / n)


def nps_standard_error(histogram: Sequence[int]) -> float:
    """The standard error of an NPS: 100·sqrt((P/n + D/n - ((P-D)/n)²)/n), its margin / 1.96."""
    n = answered("nps", histogram)
    if n <= 0:
        raise ValueError("a standard error needs n > 0")
    share_p = _count(histogram, range(9, 11)) / n
    share_d = _count(histogram, range(0, 7)) / n
    return 100 * math.sqrt(max(share_p + share_d - (share_p - share_d) ** 2, 0.0) / n)


def cxi_standard_error(histogram: Sequence[int]) -> float | None:
    """The standard error of a CX Index: s/sqrt(n) over the answers' points (100/3 ·
    (index - 3)); None below two answers."""
    n = answered("cxi", histogram)
    if n < 2:
        return None
    mean = sum(histogram[i] * _cxi_points(i) for i in CXI_INDEXES) / n
    return _cxi_deviation(histogram, n, mean) / math.sqrt(n)


def ces_standard_error(histogram: Sequence[int]) -> float | None:
    """The standard error of a CES mean: s/sqrt(n) with the sample standard deviation s
    (n - 1 in its denominator); None below two answers, where s is undefined."""
    n = answered("ces", histogram)
    if n < 2:
        return None
    mean = sum(score * histogram[score] for score in scale("ces")) / n
    squares = sum(histogram[score] * (score - mean) ** 2 for score in scale("ces"))
    return math.sqrt(squares / (n - 1)) / math.sqrt(n)


def standard_error(metric: Metric, histogram: Sequence[int], *, min_n: int) -> float | None:
    """The standard error of `metric`'s score over `histogram`, in the score's unit;
    None when the score is withheld (n below `min_n`) or the error undefined."""
    n = answered(metric, histogram)
    if withheld_reason(n, min_n) is not None or n == 0:
        return None
    if metric == "cxi":
        return cxi_standard_error(histogram)
    if metric == "nps":
        return nps_standard_error(histogram)
    if metric == "csat":
        return proportion_standard_error(_count(histogram, range(4, 6)), n)
    if metric == "yes_no":
        return proportion_standard_error(histogram[1], n)
    return ces_standard_error(histogram)


def change_standard_error(previous: float, current: float) -> float:
    """The standard error of the difference of two independent scores: sqrt(se₁² + se₂²)."""
    return math.sqrt(previous * previous + current * current)


def is_significant(change: float, error: float) -> bool:
    """Whether a change is significant at 95%: |change| > 1.96·its standard error."""
    return abs(change) > Z95 * error


def metric_change(
    metric: Metric, *, previous: Sequence[int], current: Sequence[int], min_n: int
) -> MetricChange:
    """How `metric` moved from the `previous` histogram to the `current` one.

    Change, standard error and significance are None, with the reason, when either
    score is withheld; standard error and significance alone when either side's
    standard error is undefined (a CES over one answer).
    """
    before = metric_value(metric, previous, min_n=min_n)
    after = metric_value(metric, current, min_n=min_n)
    if before.score is None or after.score is None:
        reasons = [
            f"{side}: {value.withheld_reason}"
            for side, value in (("previous", before), ("current", after))
            if value.score is None
        ]
        return MetricChange(
            metric=metric,
            previous_score=before.score,
            score=after.score,
            change=None,
            standard_error=None,
            significant=None,
            reason="; ".join(reasons),
        )
    change = after.score - before.score
    errors = (
        standard_error(metric, previous, min_n=min_n),
        standard_error(metric, current, min_n=min_n),
    )
    if errors[0] is None or errors[1] is None:
        return MetricChange(
            metric=metric,
            previous_score=before.score,
            score=after.score,
            change=change,
            standard_error=None,
            significant=None,
            reason="a standard error needs at least two answers on each side",
        )
    error = change_standard_error(errors[0], errors[1])
    return MetricChange(
        metric=metric,
        previous_score=before.score,
        score=after.score,
        change=change,
        standard_error=error,
        significant=is_significant(change, error),
    )
