"""Which window a request means, and how summed rollups become a report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cxloop_scoring.reports import ScoreRow, SentRow, Slice, build_report, resolve_window
from cxloop_scoring.rollups import histogram_of
from cxloop_shared.errors import Unprocessable
from cxloop_shared.readmodels import Granularity

NOW = datetime(2026, 11, 23, 7, 7, 30, tzinfo=UTC)
DAY_1 = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Kolkata")).astimezone(UTC)
DAY_2 = DAY_1 + timedelta(days=1)


def test_the_default_window_is_the_last_30_days_in_whole_buckets() -> None:
    start, end = resolve_window(start=None, end=None, now=NOW)
    assert end == datetime(2026, 11, 23, 7, 15, tzinfo=UTC)
    assert start == datetime(2026, 10, 24, 7, 0, tzinfo=UTC)


def test_from_alone_runs_until_now() -> None:
    start, end = resolve_window(start=NOW - timedelta(days=2), end=None, now=NOW)
    assert (end - start) > timedelta(days=2)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW, NOW, "must be after"),
        (NOW, NOW - timedelta(days=1), "must be after"),
        (NOW - timedelta(days=401), NOW, "400 days"),
    ],
)
def test_a_window_must_run_forward_and_not_too_far(
    start: datetime, end: datetime, message: str
) -> None:
    with pytest.raises(Unprocessable, match=message):
        resolve_window(start=start, end=end, now=NOW)


def where(granularity: Granularity = "total", group_by: str | None = None) -> Slice:
    return Slice(
        workspace_id="acme",
        touchpoint=None,
        start=DAY_1,
        end=DAY_2 + timedelta(days=1),
        timezone="Asia/Kolkata",
        granularity=granularity,
        group_by=group_by,  # type: ignore[arg-type]
    )


def test_totals_sum_every_row_per_metric() -> None:
    scores = [
        ScoreRow("nps", None, None, histogram_of([10, 10, 9, 0, 7])),
        ScoreRow("csat", None, None, histogram_of([5, 4, 1])),
    ]
    report = build_report(
        where=where(), min_n=3, scores=scores, sent=[SentRow("nps", None, None, 10)]
    )
    nps, csat = report.values
    # NPS: 3 promoters, 1 detractor of 5 -> 40; 5 answers of 10 sent -> 0.5.
    assert (nps.metric, nps.n, nps.score, nps.invitations_sent, nps.response_rate) == (
        "nps",
        5,
        pytest.approx(40.0),
        10,
        0.5,
    )
    assert (csat.metric, csat.n, csat.invitations_sent, csat.response_rate) == ("csat", 3, 0, None)
    assert (report.series, report.groups) == ([], [])
    assert (report.timezone, report.min_n) == ("Asia/Kolkata", 3)


def test_series_points_start_at_local_bucket_starts() -> None:
    scores = [
        ScoreRow("nps", DAY_2, None, histogram_of([10])),
        ScoreRow("nps", DAY_1, None, histogram_of([0, 0])),
    ]
    report = build_report(where=where("day"), min_n=1, scores=scores, sent=[])
    assert [point.bucket_start for point in report.series] == [DAY_1, DAY_2]
    assert report.series[0].bucket_start.isoformat() == "2026-11-01T00:00:00+05:30"
    assert [point.values[0].score for point in report.series] == [-100.0, 100.0]
    assert report.values[0].n == 3


def test_groups_report_each_value_and_no_channel_last() -> None:
    scores = [
        ScoreRow("nps", None, "", histogram_of([9])),
        ScoreRow("nps", None, "web", histogram_of([9, 9])),
        ScoreRow("nps", None, "email", histogram_of([1])),
    ]
    report = build_report(where=where(group_by="channel"), min_n=1, scores=scores, sent=[])
    assert [(group.value, group.values[0].n) for group in report.groups] == [
        ("email", 1),
        ("web", 2),
        (None, 1),
    ]
    assert report.group_by == "channel"


def test_a_metric_with_invitations_but_no_answers_reports_a_zero_rate() -> None:
    report = build_report(where=where(), min_n=5, scores=[], sent=[SentRow("csat", None, None, 4)])
    (csat,) = report.values
    assert (csat.n, csat.score, csat.invitations_sent, csat.response_rate) == (0, None, 4, 0.0)


def test_empty_rollups_and_invitations_of_unknown_metric_report_nothing() -> None:
    scores = [ScoreRow("nps", None, None, histogram_of([]))]
    report = build_report(where=where(), min_n=5, scores=scores, sent=[SentRow("", None, None, 3)])
    assert report.values == []


def test_the_report_serializes_its_window_as_from_and_to() -> None:
    body = build_report(where=where(), min_n=5, scores=[], sent=[]).model_dump(mode="json")
    assert body["from"] == "2026-10-31T18:30:00Z"
    assert "start" not in body
