"""Whatever order, batching and redelivery answers arrive in, rollups tell the truth."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any

from cxloop_scoring.handlers import ScoringHandler
from cxloop_scoring.metrics import cxi_index, metric_value
from cxloop_scoring.reports import METRIC_ORDER
from cxloop_scoring.rollups import bucket_of, empty_histogram
from cxloop_scoring.service import MetricsQuery, metrics_report
from cxloop_shared.config import ConfigCache
from cxloop_shared.events import CXI_ITEMS, Metric, ResponseRecorded, cxi_score
from cxloop_shared.readmodels import MetricValue
from cxloop_shared.scales import scale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_support import T0, deliveries, response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# Response i always measures METRICS[i] on CHANNELS[i], as one survey answer does.
METRICS: list[Metric] = ["nps", "csat", "nps", "ces", "yes_no", "nps", "csat", "cxi", "nps"]
CHANNELS = ["web", None, "sms", "web", "web", None, "sms", "web", "web"]

# (response, revision, any score, minutes after T0): mapped onto the metric's scale below.
stream_of_answers = st.lists(
    st.tuples(
        st.integers(0, len(METRICS) - 1),
        st.integers(1, 3),
        st.integers(0, 10),
        st.integers(-60, 3 * 24 * 60),
    ),
    min_size=1,
    max_size=40,
)


def as_events(workspace_id: str, stream: list[tuple[int, int, int, int]]) -> list[ResponseRecorded]:
    # A revision's content is fixed once sent: a redelivery repeats it exactly.
    first: dict[tuple[int, int], ResponseRecorded] = {}
    for index, revision, score, minutes in stream:
        on_scale = scale(METRICS[index])
        answer: dict[str, Any] = {"score": on_scale[score % len(on_scale)]}
        if METRICS[index] == "cxi":
            items = {item: 1 + (score * (2 * i + 1)) % 5 for i, item in enumerate(CXI_ITEMS)}
            answer = {"score": cxi_score(items), "items": items}  # type: ignore[arg-type]
        first.setdefault(
            (index, revision),
            response(
                workspace_id,
                f"r{index}",
                revision=revision,
                metric=METRICS[index],
                channel=CHANNELS[index],
                answered_at=T0 + timedelta(minutes=minutes),
                **answer,
            ),
        )
    return [first[(index, revision)] for index, revision, _, _ in stream]


def expected_values(
    latest: list[ResponseRecorded], key: Callable[[ResponseRecorded], Hashable], *, min_n: int
) -> dict[Hashable, list[MetricValue]]:
    histograms: dict[Hashable, dict[str, list[int]]] = {}
    for answer in latest:
        by_metric = histograms.setdefault(key(answer), {})
        if answer.items is None:
            by_metric.setdefault(answer.metric, empty_histogram())[answer.score] += 1
            continue
        by_metric.setdefault("cxi", empty_histogram())[cxi_index(answer.items)] += 1
        for item, item_score in answer.items.items():
            by_metric.setdefault(item, empty_histogram())[item_score] += 1
    return {
        value: [
            metric_value(
                metric,
                by_metric[metric],
                min_n=min_n,
                items={item: by_metric[item] for item in CXI_ITEMS if item in by_metric},
            )
            for metric in METRIC_ORDER
            if metric in by_metric
        ]
        for value, by_metric in histograms.items()
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=stream_of_answers, batch_size=st.integers(1, 8), redeliver=st.booleans())
async def test_metrics_from_rollups_equal_metrics_of_the_latest_revisions(
    handler: ScoringHandler,
    sessions: async_sessionmaker[AsyncSession],
    configs: ConfigCache,
    stream: list[tuple[int, int, int, int]],
    batch_size: int,
    redeliver: bool,
) -> None:
    workspace_id = f"ws-{uuid.uuid4().hex[:12]}"
    events = as_events(workspace_id, stream)
    for start in range(0, len(events), batch_size):
        batch = deliveries(events[start : start + batch_size])
        await handler(batch)
        if redeliver:
            await handler(batch)

    latest: dict[str, ResponseRecorded] = {}
    for event in events:
        if event.response_id not in latest or event.revision > latest[event.response_id].revision:
            latest[event.response_id] = event
    answers = list(latest.values())

    query = MetricsQuery(
        workspace_id=workspace_id,
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=4),
        granularity="day",
        group_by="channel",
    )
    async with sessions() as session:
        report = await metrics_report(session=session, configs=configs, query=query, now=T0)

    def day(answer: ResponseRecorded) -> datetime:
        return bucket_of(answer.answered_at).replace(hour=0, minute=0)

    assert report.values == expected_values(answers, lambda _: None, min_n=5)[None]
    by_day = expected_values(answers, day, min_n=5)
    assert {point.bucket_start.astimezone(UTC): point.values for point in report.series} == by_day
    by_channel = expected_values(answers, lambda answer: answer.channel, min_n=5)
    assert {group.value: group.values for group in report.groups} == by_channel
