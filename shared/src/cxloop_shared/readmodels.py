"""The read models scoring answers and the gateway serves: `GET /v1/metrics` (with its
period-over-period comparison) and `GET /v1/journeys/{key}/map`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxloop_shared.events import Metric

Granularity = Literal["total", "hour", "day", "week", "month"]
Dimension = Literal["channel", "persona", "stage", "touchpoint"]
Compare = Literal["previous"]
Status = Literal["green", "yellow", "red", "grey"]


class Interval(BaseModel):
    """A 95% interval around a score."""

    model_config = ConfigDict(frozen=True)

    low: float
    high: float


class MetricValue(BaseModel):
    """One metric over one slice, with its n; `score` is null (with a reason) below min n."""

    model_config = ConfigDict(frozen=True)

    metric: Metric
    n: int = Field(ge=0, description="Answers counted (latest revision of each).")
    score: float | None = Field(
        description="NPS -100..100, CSAT and yes/no in %, CES mean 1-7; null when withheld."
    )
    interval: Interval | None = None
    withheld_reason: str | None = None
    details: dict[str, float] = Field(default_factory=dict)
    invitations_sent: int = 0
    response_rate: float | None = None


class SeriesPoint(BaseModel):
    """The metrics of one time bucket (bucket starts in the workspace time zone)."""

    bucket_start: datetime
    values: list[MetricValue]


class GroupValue(BaseModel):
    """The metrics of one value of the `group_by` dimension."""

    value: str | None
    values: list[MetricValue]


class MetricChange(BaseModel):
    """How one metric moved from the previous window to this one.

    `change` = score - previous_score; `standard_error` = sqrt(se_previous² + se²), each
    side's standard error being, over its n answers: NPS 100·sqrt((P/n + D/n -
    ((P-D)/n)²)/n) (its margin of error / 1.96), CSAT and yes/no 100·sqrt(p(1-p)/n),
    CES s/sqrt(n) with the sample standard deviation s. `significant` when
    |change| > 1.96·standard_error. `change`, `standard_error` and `significant` are
    null, with `reason`, when either side's score is withheld; `standard_error` and
    `significant` alone when a standard error is undefined (CES needs two answers).
    """

    model_config = ConfigDict(frozen=True)

    metric: Metric
    previous_score: float | None
    score: float | None
    change: float | None
    standard_error: float | None
    significant: bool | None
    reason: str | None = None


class Comparison(BaseModel):
    """The previous window of the same length, ending where the report's window starts."""

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    values: list[MetricValue]
    changes: list[MetricChange]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class MetricsReport(BaseModel):
    """Metrics for a touchpoint (or every touchpoint) over a window.

    `groups` hold one entry per value of the `group_by` dimension: the channel the
    answer came through, the customer's persona on the touchpoint the invitation was
    sent for, the touchpoint, or the touchpoint's journey stage as configured now;
    null is the group of answers without one. `comparison` is there when asked for
    (`compare=previous`).
    """

    workspace_id: str
    touchpoint: str | None
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    timezone: str
    granularity: Granularity
    min_n: int
    values: list[MetricValue]
    series: list[SeriesPoint] = Field(default_factory=list)
    group_by: Dimension | None = None
    groups: list[GroupValue] = Field(default_factory=list)
    comparison: Comparison | None = None

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class JourneyTouchpoint(BaseModel):
    """A touchpoint on a journey map: its values, a status per metric, and the status of
    its survey's metric as its own."""

    touchpoint: str
    metric: Metric = Field(description="The metric of the touchpoint's survey.")
    status: Status
    statuses: dict[Metric, Status]
    values: list[MetricValue]


class JourneyStage(BaseModel):
    """A stage of a journey: the values of its touchpoints' summed histograms, a status per
    metric, and the worst of them (red > yellow > green; grey when all are grey)."""

    stage: str
    status: Status
    statuses: dict[Metric, Status]
    values: list[MetricValue]
    touchpoints: list[JourneyTouchpoint]


class JourneyMap(BaseModel):
    """Every stage of a journey in order, with its touchpoints, over a window.

    A status is green when the score is at or above the journey's green threshold for
    that metric, red when at or below its red threshold, yellow in between, and grey
    when the score is withheld (n below `min_n`) or the journey has no threshold for
    the metric.
    """

    journey: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    timezone: str
    min_n: int
    stages: list[JourneyStage]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
