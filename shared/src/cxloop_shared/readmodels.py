"""The metrics read model: what scoring answers and the gateway serves as `GET /v1/metrics`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxloop_shared.events import Metric

Granularity = Literal["total", "hour", "day", "week", "month"]
Dimension = Literal["channel", "persona", "stage", "touchpoint"]


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


class MetricsReport(BaseModel):
    """Metrics for a touchpoint (or every touchpoint) over a window."""

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

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
