"""Metrics reports: which window a request means, and how summed rollups become a report.

Pure: the repository sums rollups per (metric, time bucket, group) for a `Slice`, and
`build_report` turns those sums into totals, a time series and groups, each with
one `MetricValue` per metric present (answered, or with invitations sent).

Groups: `channel`, `persona` and `touchpoint` are rollup key columns. `stage` is not:
the rollups are grouped by touchpoint and each touchpoint's group is renamed to the
stage the workspace configuration gives it now ('' when it has none), so a
re-staged touchpoint moves to its new stage whole, history included.

`compare=previous` adds the window of the same length just before `from`, its values
and each metric's change (`metrics.metric_change`); totals only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeAlias, TypeVar
from zoneinfo import ZoneInfo

from cxloop_shared.errors import Unprocessable
from cxloop_shared.events import CXI_ITEMS, Metric
from cxloop_shared.readmodels import (
    Comparison,
    Dimension,
    Granularity,
    GroupValue,
    MetricsReport,
    MetricValue,
    SeriesPoint,
)

from cxloop_scoring.metrics import answered, metric_change, metric_value, with_invitations
from cxloop_scoring.rollups import (
    Histogram,
    add_histograms,
    bucket_after,
    bucket_of,
    empty_histogram,
)

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=400)
DEFAULT_TIMEZONE = "UTC"
DEFAULT_MIN_N = 5
METRIC_ORDER: tuple[Metric, ...] = ("nps", "csat", "ces", "cxi", "yes_no")

GroupBy: TypeAlias = Dimension


@dataclass(frozen=True, slots=True)
class Slice:
    """What a report covers: rollups of a workspace (and touchpoint) with bucket in [start, end)."""

    workspace_id: str
    touchpoint: str | None
    start: datetime
    end: datetime
    timezone: str
    granularity: Granularity
    group_by: GroupBy | None

    @property
    def group_column(self) -> str | None:
        """The rollup column the groups come from: stages are grouped by touchpoint first."""
        return "touchpoint" if self.group_by == "stage" else self.group_by

    def previous(self) -> Slice:
        """The totals of the window of the same length that ends where this one starts."""
        return replace(
            self,
            start=self.start - (self.end - self.start),
            end=self.start,
            granularity="total",
            group_by=None,
        )


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """A summed histogram of one metric in one time bucket (None: total) and group (None: all).

    `metric` is a rollup's metric: a survey metric, or `cxi.<item>` for a CX Index item.
    """

    metric: str
    bucket_start: datetime | None
    group: str | None
    counts: Histogram


@dataclass(frozen=True, slots=True)
class SentRow:
    """Invitations sent for one metric ('' when unknown) in one time bucket and group."""

    metric: str
    bucket_start: datetime | None
    group: str | None
    sent: int


RowT = TypeVar("RowT", ScoreRow, SentRow)


def resolve_window(
    *, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The window a request means, widened to whole 15-minute buckets.

    `to` defaults to now and `from` to 30 days before `to`. Raise Unprocessable when
    `to` is not after `from` or the window is longer than 400 days.
    """
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if end <= start:
        raise Unprocessable(f"`to` ({end.isoformat()}) must be after `from` ({start.isoformat()})")
    if end - start > MAX_WINDOW:
        raise Unprocessable(f"the window is over the maximum of {MAX_WINDOW.days} days")
    return bucket_of(start), bucket_after(end)


def staged(rows: Sequence[RowT], stages: Mapping[str, str | None]) -> list[RowT]:
    """Rows grouped by touchpoint, regrouped by each touchpoint's stage ('' for none)."""
    return [replace(row, group=stages.get(row.group or "") or "") for row in rows]


def build_report(
    *,
    where: Slice,
    min_n: int,
    scores: Sequence[ScoreRow],
    sent: Sequence[SentRow],
    stages: Mapping[str, str | None] | None = None,
    comparison: Comparison | None = None,
) -> MetricsReport:
    """The report of `where` from rollup sums grouped as the slice asks.

    With `group_by` stage the rows come grouped by touchpoint and `stages` maps each
    touchpoint to its configured stage.
    """
    if where.group_by == "stage":
        scores, sent = staged(scores, stages or {}), staged(sent, stages or {})
    series: list[SeriesPoint] = []
    if where.granularity != "total":
        zone = ZoneInfo(where.timezone)
        series = [
            SeriesPoint(bucket_start=bucket.astimezone(zone), values=values)
            for bucket, values in _by(lambda row: row.bucket_start, scores, sent, min_n=min_n)
            if bucket is not None
        ]
    groups: list[GroupValue] = []
    if where.group_by is not None:
        groups = [
            GroupValue(value=value or None, values=values)
            for value, values in _by(lambda row: row.group, scores, sent, min_n=min_n)
        ]
    return MetricsReport(
        workspace_id=where.workspace_id,
        touchpoint=where.touchpoint,
        start=where.start,
        end=where.end,
        timezone=where.timezone,
        granularity=where.granularity,
        min_n=min_n,
        values=metric_values(scores, sent, min_n=min_n),
        series=series,
        group_by=where.group_by,
        groups=groups,
        comparison=comparison,
    )


def build_comparison(
    *,
    previous: Slice,
    min_n: int,
    scores: Sequence[ScoreRow],
    previous_scores: Sequence[ScoreRow],
    previous_sent: Sequence[SentRow],
) -> Comparison:
    """The previous window's values, and each metric's change from them to `scores`."""
    values = metric_values(previous_scores, previous_sent, min_n=min_n)
    before, after = _histograms(previous_scores), _histograms(scores)
    changes = [
        metric_change(
            metric,
            previous=before.get(metric, empty_histogram()),
            current=after.get(metric, empty_histogram()),
            min_n=min_n,
        )
        for metric in METRIC_ORDER
        if answered(metric, before.get(metric, empty_histogram()))
        or answered(metric, after.get(metric, empty_histogram()))
    ]
    return Comparison(start=previous.start, end=previous.end, values=values, changes=changes)


def _histograms(scores: Sequence[ScoreRow]) -> dict[str, Histogram]:
    histograms: dict[str, Histogram] = {}
    for row in scores:
        histograms[row.metric] = add_histograms(
            histograms.get(row.metric, empty_histogram()), row.counts
        )
    return histograms


def metric_values(
    scores: Sequence[ScoreRow], sent: Sequence[SentRow], *, min_n: int
) -> list[MetricValue]:
    """One value per metric answered or invited in these rows, all rows summed."""
    histograms = _histograms(scores)
    invited: dict[str, int] = {}
    for sent_row in sent:
        invited[sent_row.metric] = invited.get(sent_row.metric, 0) + sent_row.sent
    values = []
    for metric in METRIC_ORDER:
        histogram = histograms.get(metric, empty_histogram())
        if answered(metric, histogram) == 0 and invited.get(metric, 0) == 0:
            continue
        items = {
            item: histograms[f"cxi.{item}"] for item in CXI_ITEMS if f"cxi.{item}" in histograms
        }
        value = metric_value(metric, histogram, min_n=min_n, items=items)
        values.append(with_invitations(value, sent=invited.get(metric, 0)))
    return values


K = TypeVar("K", bound=Hashable)


def _by(
    key: Callable[[ScoreRow | SentRow], K],
    scores: Sequence[ScoreRow],
    sent: Sequence[SentRow],
    *,
    min_n: int,
) -> list[tuple[K, list[MetricValue]]]:
    """Metric values per distinct `key` of the rows, in key order ('' and None last)."""
    score_rows: dict[K, list[ScoreRow]] = defaultdict(list)
    sent_rows: dict[K, list[SentRow]] = defaultdict(list)
    for row in scores:
        score_rows[key(row)].append(row)
    for sent_row in sent:
        sent_rows[key(sent_row)].append(sent_row)
    ordered = sorted({*score_rows, *sent_rows}, key=lambda value: (not value, value or ""))
    by_key = []
    for value in ordered:
        values = metric_values(score_rows[value], sent_rows[value], min_n=min_n)
        if values:
            by_key.append((value, values))
    return by_key
