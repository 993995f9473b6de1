"""Journey maps, decided: which touchpoints sit on which stage, their values, and the
green/yellow/red/grey status of each.

Pure: the repository sums the window's rollups per touchpoint, and `journey_map` turns
them into the map. Definitions:

- A touchpoint belongs to the stage its configuration names now (`TouchpointConfig.stage`);
  touchpoints on no stage of the journey are not on its map. Stages come in the
  journey's order, every one of them, touchpoints or not; touchpoints by key (the stored
  configuration does not keep the order a file listed them in).
- A touchpoint's `values` are its metrics over the window, always including its
  survey's metric (n = 0 when nobody answered). A stage's `values` come from the summed
  histograms (and invitations sent) of its touchpoints, always including their
  survey metrics.
- A metric's status, from the journey's thresholds: red when score <= red, green
  when score >= green, yellow in between; grey when the score is withheld (n below
  the workspace minimum) or the journey has no threshold for that metric. A threshold
  given alone makes the other colour unreachable; should red and green overlap
  (a misconfiguration) red wins.
- A touchpoint's `status` is the status of its survey's metric; a stage's `status` is
  the worst of its statuses (red > yellow > green), grey when all are grey.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.events import Metric
from cxloop_shared.readmodels import (
    JourneyMap,
    JourneyStage,
    JourneyTouchpoint,
    MetricValue,
    Status,
)

from cxloop_scoring.metrics import metric_value, with_invitations
from cxloop_scoring.reports import METRIC_ORDER, ScoreRow, SentRow, metric_values
from cxloop_scoring.rollups import empty_histogram

Thresholds = Mapping[Metric, Mapping[str, float]]

_SEVERITY: dict[Status, int] = {"grey": 0, "green": 1, "yellow": 2, "red": 3}


def status_of(value: MetricValue, thresholds: Thresholds) -> Status:
    """The colour of one metric value under a journey's thresholds (see the module doc)."""
    bounds = thresholds.get(value.metric)
    if value.score is None or not bounds:
        return "grey"
    red, green = bounds.get("red"), bounds.get("green")
    if red is not None and value.score <= red:
        return "red"
    if green is not None and value.score >= green:
        return "green"
    return "yellow"


def statuses_of(values: Iterable[MetricValue], thresholds: Thresholds) -> dict[Metric, Status]:
    """The status of each metric in `values`."""
    return {value.metric: status_of(value, thresholds) for value in values}


def worst(statuses: Iterable[Status]) -> Status:
    """The worst status that is not grey (red > yellow > green); grey when there is none."""
    return max(statuses, key=_SEVERITY.__getitem__, default="grey")


def with_metrics(
    values: Sequence[MetricValue], metrics: Iterable[Metric], *, min_n: int
) -> list[MetricValue]:
    """`values` plus an empty (n = 0) value of each of `metrics` they lack, in metric order."""
    by_metric = {value.metric: value for value in values}
    for metric in metrics:
        if metric not in by_metric:
            empty = metric_value(metric, empty_histogram(), min_n=min_n)
            by_metric[metric] = with_invitations(empty, sent=0)
    return [by_metric[metric] for metric in METRIC_ORDER if metric in by_metric]


def journey_map(
    *,
    key: str,
    config: WorkspaceConfig,
    start: datetime,
    end: datetime,
    scores: Sequence[ScoreRow],
    sent: Sequence[SentRow],
) -> JourneyMap:
    """The map of the workspace's journey `key` (which must exist) from rollup sums
    grouped by touchpoint."""
    journey = config.journeys[key]
    min_n = config.settings.min_n
    thresholds = journey.thresholds
    surveys: dict[str, list[tuple[str, Metric]]] = {stage: [] for stage in journey.stages}
    for touchpoint, measured in sorted(config.touchpoints.items()):
        if measured.stage in surveys:
            surveys[measured.stage].append((touchpoint, config.surveys[measured.survey].metric))

    def rows_of(touchpoints: set[str]) -> tuple[list[ScoreRow], list[SentRow]]:
        return (
            [row for row in scores if row.group in touchpoints],
            [row for row in sent if row.group in touchpoints],
        )

    stages = []
    for stage, measured_here in surveys.items():
        touchpoints = []
        for touchpoint, metric in measured_here:
            values = with_metrics(
                metric_values(*rows_of({touchpoint}), min_n=min_n), [metric], min_n=min_n
            )
            statuses = statuses_of(values, thresholds)
            touchpoints.append(
                JourneyTouchpoint(
                    touchpoint=touchpoint,
                    metric=metric,
                    status=statuses[metric],
                    statuses=statuses,
                    values=values,
                )
            )
        values = with_metrics(
            metric_values(*rows_of({name for name, _ in measured_here}), min_n=min_n),
            [metric for _, metric in measured_here],
            min_n=min_n,
        )
        statuses = statuses_of(values, thresholds)
        stages.append(
            JourneyStage(
                stage=stage,
                status=worst(statuses.values()),
                statuses=statuses,
                values=values,
                touchpoints=touchpoints,
            )
        )
    return JourneyMap(
        journey=key,
        start=start,
        end=end,
        timezone=config.timezone,
        min_n=min_n,
        stages=stages,
    )
