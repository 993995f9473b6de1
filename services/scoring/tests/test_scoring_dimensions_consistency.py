"""Whatever order, batching and redelivery answers and invitations arrive in, every metric
read from the rollups (totals, each group_by dimension, series in any time zone, the
previous window) equals the same metric computed from the answers themselves, and a
rebuild from the raw rows finds nothing to repair."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cxloop_scoring.handlers import ScoringHandler
from cxloop_scoring.metrics import metric_change, metric_value, with_invitations
from cxloop_scoring.rebuild import rebuild
from cxloop_scoring.reports import METRIC_ORDER
from cxloop_scoring.rollups import bucket_of, empty_histogram
from cxloop_scoring.service import MetricsQuery, metrics_report
from cxloop_shared.config import ConfigCache
from cxloop_shared.events import CxEvent, InvitationChanged, Metric, ResponseRecorded
from cxloop_shared.readmodels import Dimension, Granularity, MetricValue
from cxloop_shared.scales import scale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_dimensions_support import STAGED, customer_touchpoint, staged_configuration
from scoring_support import deliveries, invitation, response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

ZONES = ["Asia/Kathmandu", "Australia/Adelaide", "America/St_Johns", "Europe/Berlin", "UTC"]
# Around clock changes: St John's and Berlin fall back, Adelaide and Berlin spring forward.
ANCHORS = [
    datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 3, 16, 30, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
]
SPAN = timedelta(days=4)
PERSONAS = [None, "smb-owner", "enterprise"]
# Invitation i is for touchpoint TOUCHPOINTS[i]; `returns` is not configured at all.
TOUCHPOINTS = ["checkout", "cart", "order_delivered", "unstaged", "checkout", "returns"]
# Response j answers invitation j; the last two came without one (an agent desk, an API).
ANSWERED = [*range(len(TOUCHPOINTS)), None, None]
ANSWER_TOUCHPOINTS = [*TOUCHPOINTS, "cart", "returns"]
CHANNELS = ["web", None, "sms", "web", "web", None, "sms", "web"]


def metric_of(touchpoint: str) -> Metric:
    measured = STAGED.get(touchpoint)
    return measured[1] if measured else "nps"  # type: ignore[return-value]


def stage_of(touchpoint: str) -> str | None:
    measured = STAGED.get(touchpoint)
    return measured[0] if measured else None


@dataclass(frozen=True)
class Fact:
    """An answer (score) or an invitation sent (score None) with its dimensions."""

    touchpoint: str
    metric: Metric
    channel: str | None
    persona: str | None
    at: datetime
    score: int | None = None

    def dimension(self, name: Dimension) -> str | None:
        if name == "stage":
            return stage_of(self.touchpoint)
        value: str | None = getattr(self, name)
        return value


def expected_values(
    facts: Sequence[Fact], key: Callable[[Fact], Hashable], *, min_n: int
) -> dict[Hashable, list[MetricValue]]:
    histograms: dict[Hashable, dict[Metric, list[int]]] = {}
    invited: dict[Hashable, dict[Metric, int]] = {}
    for fact in facts:
        if fact.score is None:
            by_metric = invited.setdefault(key(fact), {})
            by_metric[fact.metric] = by_metric.get(fact.metric, 0) + 1
        else:
            histogram = histograms.setdefault(key(fact), {}).setdefault(
                fact.metric, empty_histogram()
            )
            histogram[fact.score] += 1
    found = {}
    for value in {*histograms, *invited}:
        found[value] = [
            with_invitations(
                metric_value(
                    metric, histograms.get(value, {}).get(metric, empty_histogram()), min_n=min_n
                ),
                sent=invited.get(value, {}).get(metric, 0),
            )
            for metric in METRIC_ORDER
            if metric in histograms.get(value, {}) or metric in invited.get(value, {})
        ]
    return found


def local_start(moment: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    """The start of the workspace-local hour/day/week/month holding `moment`'s bucket."""
    local = bucket_of(moment).astimezone(zone)
    if granularity == "hour":
        start = datetime(
            local.year, local.month, local.day, local.hour, tzinfo=zone, fold=local.fold
        )
    elif granularity == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=zone)
    elif granularity == "week":
        monday = local.date() - timedelta(days=local.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    else:
        start = datetime(local.year, local.month, 1, tzinfo=zone)
    return start.astimezone(UTC)


answers_stream = st.lists(
    st.tuples(
        st.integers(0, len(ANSWERED) - 1),
        st.integers(1, 3),
        st.integers(0, 10),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
    ),
    min_size=1,
    max_size=30,
)
invitations_drawn = st.lists(
    st.tuples(
        st.sampled_from(PERSONAS),
        st.booleans(),  # sent (else only scheduled, which still tells scoring its origin)
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
        st.integers(0, 30),  # where in the stream it arrives
    ),
    min_size=len(TOUCHPOINTS),
    max_size=len(TOUCHPOINTS),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream=answers_stream,
    drawn=invitations_drawn,
    zone=st.sampled_from(ZONES),
    anchor=st.sampled_from(ANCHORS),
    granularity=st.sampled_from(["hour", "day", "week", "month"]),
    min_n=st.integers(1, 3),
    batch_size=st.integers(1, 12),
    redeliver=st.booleans(),
)
async def test_every_dimension_read_from_rollups_equals_the_answers(
    handler: ScoringHandler,
    handle: Any,
    configure: Any,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    configs: ConfigCache,
    stream: list[tuple[int, int, int, int]],
    drawn: list[tuple[str | None, bool, int, int]],
    zone: str,
    anchor: datetime,
    granularity: Granularity,
    min_n: int,
    batch_size: int,
    redeliver: bool,
) -> None:
    workspace_id = f"ws-{uuid.uuid4().hex[:12]}"
    await configure(workspace_id, **staged_configuration(timezone=zone, min_n=min_n))
    invitation_ids = [uuid.uuid4() for _ in TOUCHPOINTS]
    await handle(
        [
            customer_touchpoint(
                workspace_id,
                f"e{i}",
                persona=persona,
                touchpoint=TOUCHPOINTS[i],
                customer_id=f"c{i}",
            )
            for i, (persona, *_) in enumerate(drawn)
        ]
    )

    # A revision's content is fixed once sent: a redelivery repeats it exactly.
    first: dict[tuple[int, int], Any] = {}
    for index, revision, score, minutes in stream:
        touchpoint = ANSWER_TOUCHPOINTS[index]
        on_scale = scale(metric_of(touchpoint))
        answered = ANSWERED[index]
        first.setdefault(
            (index, revision),
            response(
                workspace_id,
                f"r{index}",
                on_scale[score % len(on_scale)],
                revision=revision,
                touchpoint=touchpoint,
                metric=metric_of(touchpoint),
                channel=CHANNELS[index],
                answered_at=anchor + timedelta(minutes=minutes),
                invitation_id=invitation_ids[answered] if answered is not None else None,
            ),
        )
    events: list[CxEvent] = [first[(index, revision)] for index, revision, _, _ in stream]
    for i, (_, sent, minutes, position) in sorted(enumerate(drawn), key=lambda d: -d[1][3]):
        events.insert(
            min(position, len(events)),
            invitation(
                workspace_id,
                invitation_ids[i],
                "sent" if sent else "scheduled",
                event_id=f"e{i}",
                customer_id=f"c{i}",
                touchpoint=TOUCHPOINTS[i],
                metric=metric_of(TOUCHPOINTS[i]),
                changed_at=anchor + timedelta(minutes=minutes),
            ),
        )

    # What the rollups must hold: each response's latest revision, with the persona known
    # when that revision was recorded (its invitation's, once that invitation is in).
    known: set[uuid.UUID] = set()
    latest: dict[str, ResponseRecorded] = {}
    personas: dict[str, str | None] = {}
    for start in range(0, len(events), batch_size):
        batch = events[start : start + batch_size]
        await handler(deliveries(batch))
        if redeliver:
            await handler(deliveries(batch))
        known |= {event.invitation_id for event in batch if isinstance(event, InvitationChanged)}
        for event in batch:
            if not isinstance(event, ResponseRecorded):
                continue
            current = latest.get(event.response_id)
            if current is None or event.revision > current.revision:
                latest[event.response_id] = event
                index = int(event.response_id[1:])
                answered = ANSWERED[index]
                personas[event.response_id] = (
                    drawn[answered][0]
                    if answered is not None and invitation_ids[answered] in known
                    else None
                )
    facts = [
        Fact(e.touchpoint, e.metric, e.channel, personas[e.response_id], e.answered_at, e.score)
        for e in latest.values()
    ] + [
        Fact(
            TOUCHPOINTS[i],
            metric_of(TOUCHPOINTS[i]),
            "email",
            persona,
            anchor + timedelta(minutes=minutes),
        )
        for i, (persona, sent, minutes, _) in enumerate(drawn)
        if sent
    ]

    async def report(start: datetime, end: datetime, **fields: Any) -> Any:
        query = MetricsQuery(workspace_id=workspace_id, start=start, end=end, **fields)
        async with sessions() as session:
            return await metrics_report(session=session, configs=configs, query=query, now=anchor)

    everything = (anchor - SPAN, anchor + SPAN)
    for dimension in ("channel", "persona", "stage", "touchpoint"):
        grouped = await report(*everything, granularity=granularity, group_by=dimension)
        assert grouped.values == expected_values(facts, lambda _: None, min_n=min_n)[None]
        expected = expected_values(facts, lambda f, d=dimension: f.dimension(d), min_n=min_n)
        assert {group.value: group.values for group in grouped.groups} == expected, dimension
    series = expected_values(
        facts, lambda f: local_start(f.at, granularity, ZoneInfo(zone)), min_n=min_n
    )
    assert {point.bucket_start.astimezone(UTC): point.values for point in grouped.series} == series

    compared = await report(anchor, anchor + SPAN, compare="previous")
    now = [fact for fact in facts if fact.at >= anchor]
    before = [fact for fact in facts if fact.at < anchor]
    assert compared.values == expected_values(now, lambda _: None, min_n=min_n).get(None, [])
    assert compared.comparison is not None
    assert compared.comparison.values == expected_values(before, lambda _: None, min_n=min_n).get(
        None, []
    )

    def histogram(of: list[Fact], metric: Metric) -> list[int]:
        counts = empty_histogram()
        for fact in of:
            if fact.metric == metric and fact.score is not None:
                counts[fact.score] += 1
        return counts

    assert compared.comparison.changes == [
        metric_change(
            metric, previous=histogram(before, metric), current=histogram(now, metric), min_n=min_n
        )
        for metric in METRIC_ORDER
        if any(histogram(before, metric)) or any(histogram(now, metric))
    ]

    lines: list[str] = []
    assert (await rebuild(engine, workspace=workspace_id, emit=lines.append)).differences == 0, (
        lines
    )
