"""The answer scale of each survey metric."""

from __future__ import annotations

from cxloop_shared.events import Metric

SCALES: dict[Metric, range] = {
    "nps": range(0, 11),
    "csat": range(1, 6),
    "ces": range(1, 8),
    "cxi": range(1, 6),
    "yes_no": range(0, 2),
}


def scale(metric: Metric) -> range:
    """The scores a `metric` question accepts, lowest first."""
    return SCALES[metric]


def in_scale(metric: Metric, score: int) -> bool:
    """True when `score` is a valid answer to a `metric` question."""
    return score in SCALES[metric]
