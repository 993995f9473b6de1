"""The metric formulas of DESIGN.md ("Metrics (exact definitions)"), over score histograms.

Every function takes a histogram (11 counts; index = score 0..10) and the workspace's
minimum n, and returns a `MetricValue`. Scores outside a metric's scale (a 0 on a
1-5 CSAT question) are not answers to that question and are not counted. Below the
minimum n the score, its interval and its details are withheld, with the reason.
Intervals are 95% (z = 1.96) and clipped to the metric's scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from cxloop_shared.events import Metric
from cxloop_shared.readmodels import Interval, MetricValue
from cxloop_shared.scales import scale

Z95 = 1.96

CXI_UNSUPPORTED = "CX Index needs the three-question survey (not yet supported)"


def answered(metric: Metric, histogram: Sequence[int]) -> int:
    """How many answers in `histogram` lie on `metric`'s scale: the metric's n."""
    return sum(histogram[score] for score in scale(metric))


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


def cxi(histogram: Sequence[int], *, min_n: int) -> MetricValue:
    """CX Index: not computed yet (it needs three answers per response); n is still counted."""
    return _withheld("cxi", answered("cxi", histogram), CXI_UNSUPPORTED)


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


def metric_value(metric: Metric, histogram: Sequence[int], *, min_n: int) -> MetricValue:
    """The value of `metric` over `histogram`, by that metric's formula."""
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
