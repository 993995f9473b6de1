"""Scoring: answers per second into rollups by one scoring process, metric query latency over
a million answers against a plain GROUP BY of the raw answers, and freshness from ingest to
`GET /v1/metrics`; all on one stack, in one run.

- Throughput: answers are produced to `cx.responses` before scoring starts, so one
  scoring process works through a backlog as fast as it can; the ceiling beside it is a
  plain consumer of the same records on the same broker.
- Query latency: a million answers are written straight into `scoring.answers`, the
  rollups are built from them by `rebuild --repair` (timed too), and the same reports are
  read from the rollups (scoring's own `metrics_report`) and by a GROUP BY over the raw
  table, one query after the other in this process.
- Freshness: an answer posted to ingest, then `GET /v1/metrics` through the gateway polled
  until its n counts it; timed from ingest's 2xx.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import TopicPartition
from cxloop_devstack.services import SERVICES
from cxloop_devstack.stack import ServiceProcess, StackSettings
from cxloop_scoring.rollups import bucket_after, bucket_of
from cxloop_scoring.service import MetricsQuery, metrics_report
from cxloop_shared import topics
from cxloop_shared.cloudevents import KafkaRecord, encode
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import Metric, ResponseRecorded, utcnow
from cxloop_shared.scales import scale
from cxloop_shared.settings import ServiceSettings

from bench.backlog import (
    STALL_SECONDS,
    cpu_seconds,
    dsn,
    end_offsets,
    partitions_of,
    prefill,
    raw_consumer,
    ready_time,
    start_group_at,
)
from bench.runner import Load, Throughput, closed_loop

ANSWERS = 20_000
QUERY_ANSWERS = 1_000_000
FRESHNESS_SAMPLES = 40
QUERY_REPEATS = 25
WORKSPACE = "bench-scoring"
QUERY_WORKSPACE = "bench-query"
FRESH_WORKSPACE = "bench-fresh"
BATCH_SIZE: int = ServiceSettings.model_fields["consumer_batch_size"].default
SERVICE_ENVIRONMENT = {"CXLOOP_LOG_LEVEL": "WARNING", "CXLOOP_CONSUMER_BATCH_SIZE": str(BATCH_SIZE)}
POLL_SECONDS = 0.2
FRESHNESS_POLL_SECONDS = 0.01
# Each touchpoint's survey measures one metric; answers are spread over all four.
TOUCHPOINTS: dict[str, Metric] = {
    "checkout": "nps",
    "ticket_closed": "csat",
    "onboarding": "ces",
    "delivery": "yes_no",
}
CHANNELS = ("email", "sms", "web")


def config_document(workspace: str) -> dict[str, Any]:
    """Four touchpoints, one per metric, in one journey; Asia/Kathmandu so that day buckets
    sit on a 45-minute offset, the case rollups must get exactly right."""
    surveys = {
        f"{touchpoint}_survey": {"metric": metric, "question": {"en": f"{touchpoint}?"}}
        for touchpoint, metric in TOUCHPOINTS.items()
    }
    return {
        "workspace": workspace,
        "timezone": "Asia/Kathmandu",
        "touchpoints": {
            touchpoint: {"stage": "use", "survey": f"{touchpoint}_survey"}
            for touchpoint in TOUCHPOINTS
        },
        "surveys": surveys,
        # No dispatcher runs in this benchmark: the channel is only there to be valid.
        "channels": {
            "email": {"kind": "smtp", "host": "127.0.0.1", "port": 2525, "from": "B <b@b.test>"}
        },
        "journeys": {"main": {"stages": ["use"], "thresholds": {"nps": {"green": 30, "red": 0}}}},
        "settings": {"min_n": 5},
    }


@dataclass
class Keys:
    """The keys the benchmark acts with, per workspace."""

    admin: dict[str, str] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)


async def configure(settings: StackSettings) -> Keys:
    """Create the three workspaces, apply their configuration and issue their keys."""
    keys = Keys()
    async with httpx.AsyncClient(base_url=settings.url("gateway"), timeout=30) as gateway:
        for workspace in (WORKSPACE, QUERY_WORKSPACE, FRESH_WORKSPACE):
            created = await gateway.post(
                "/v1/workspaces",
                json={"id": workspace, "timezone": "Asia/Kathmandu"},
                headers={"Authorization": f"Bearer {settings.admin_token}"},
            )
            created.raise_for_status()
            admin = created.json()["admin_key"]["key"]
            keys.admin[workspace] = admin
            auth = {"Authorization": f"Bearer {admin}"}
            applied = await gateway.put("/v1/config", json=config_document(workspace), headers=auth)
            applied.raise_for_status()
            for name, scope, into in (
                ("read", "metrics:read", keys.read),
                ("answers", "responses:write", keys.answers),
            ):
                issued = await gateway.post(
                    "/v1/api-keys", json={"name": name, "scopes": [scope]}, headers=auth
                )
                issued.raise_for_status()
                into[workspace] = issued.json()["key"]
    return keys


def answers(count: int) -> list[KafkaRecord]:
    """`count` first answers by 5,000 customers over the last 30 days, as ingest publishes them."""
    rng = random.Random(7)
    now = utcnow()
    touchpoints = list(TOUCHPOINTS.items())
    records = []
    for n in range(count):
        touchpoint, metric = touchpoints[n % len(touchpoints)]
        answer = ResponseRecorded(
            workspace_id=WORKSPACE,
            response_id=f"bench-{n}",
            customer_id=f"c-{n % 5000}",
            touchpoint=touchpoint,
            metric=metric,
            channel=CHANNELS[n % len(CHANNELS)],
            score=rng.choice(scale(metric)),
            answered_at=now - timedelta(minutes=rng.randrange(30 * 24 * 60)),
            collected_via="api",
        )
        records.append(encode(answer, topic=topics.RESPONSES, source="cxloop/ingest"))
    return records


@dataclass
class ScoringResults:
    """The scoring benchmark's measurements and what they say together."""

    raw_consume: Throughput
    scorer: Throughput
    rebuild: Throughput
    queries: list[dict[str, float | int | str]]
    gateway: list[Load]
    freshness_ms: list[float]
    details: dict[str, float | int] = field(default_factory=dict)

    def rows(self) -> list[dict[str, float | int | str]]:
        """Throughput rows, the fullest first (it sets the columns)."""
        return [t.summary() for t in (self.raw_consume, self.scorer, self.rebuild)]

    def ratios(self) -> dict[str, float]:
        """Answers per second against the raw consumer; each query's rollup latency against
        the GROUP BY's; the gateway against reading scoring directly."""
        ratios = {
            "scoring_answers_vs_raw_consume": self.scorer.item_rate / self.raw_consume.item_rate
        }
        for row in self.queries:
            ratios[f"query_{row['name']}_p50_rollups_vs_group_by"] = float(
                row["rollups_p50_ms"]
            ) / float(row["group_by_p50_ms"])
        healthz, direct, through = self.gateway
        ratios["gateway_metrics_rate_vs_scoring_direct"] = through.rate / direct.rate
        ratios["gateway_metrics_p99_vs_scoring_direct_p99"] = through.percentile(
            0.99
        ) / direct.percentile(0.99)
        ratios["gateway_metrics_rate_vs_gateway_healthz"] = through.rate / healthz.rate
        return ratios

    def freshness(self) -> dict[str, float]:
        """Freshness percentiles, milliseconds from ingest's 2xx to the metric counting it."""
        ordered = sorted(self.freshness_ms)
        return {
            "freshness_p50_ms": round(statistics.median(ordered), 1),
            "freshness_p95_ms": round(ordered[min(int(0.95 * len(ordered)), len(ordered) - 1)], 1),
            "freshness_max_ms": round(ordered[-1], 1),
        }


async def run(
    *,
    settings: StackSettings,
    log_dir: Path,
    idempotence: bool,
    seconds: float,
    concurrency: int,
    query_answers: int,
) -> ScoringResults:
    """Every scoring measurement, on a stack whose gateway and ingest already run."""
    keys = await configure(settings)
    records = answers(ANSWERS)
    start = await prefill(
        settings.kafka_bootstrap, records, topic=topics.RESPONSES, idempotence=idempotence
    )
    raw = await raw_consumer(
        settings.kafka_bootstrap,
        topic=topics.RESPONSES,
        start=start,
        records=len(records),
        batch_size=BATCH_SIZE,
    )
    process = ServiceProcess(next(s for s in SERVICES if s.name == "scoring"), settings, log_dir)
    try:
        scorer, details = await scorer_run(settings, process, start=start, answers=len(records))
        rebuild = await bulk_answers(settings, answers=query_answers)
        queries = await query_latencies(settings.database_url)
        gateway = await gateway_loads(
            settings, key=keys.read[QUERY_WORKSPACE], seconds=seconds, concurrency=concurrency
        )
        freshness = await freshness_samples(settings, keys=keys)
    finally:
        process.stop()
    return ScoringResults(raw, scorer, rebuild, queries, gateway, freshness, details)


async def scorer_run(
    settings: StackSettings,
    process: ServiceProcess,
    *,
    start: dict[TopicPartition, int],
    answers: int,
) -> tuple[Throughput, dict[str, float | int]]:
    """One scoring process working through the backlog; answers counted as rows of
    `scoring.answers`, timed from the first batch's transaction to the poll that sees the
    last. Its other groups start at the end of their topics, so earlier benchmarks'
    touchpoints and invitations don't compete with the answers."""
    bootstrap = settings.kafka_bootstrap
    invitations = await end_offsets(bootstrap, partitions_of(topics.INVITATIONS))
    await start_group_at(bootstrap, "scoring", {**start, **invitations})
    touchpoints = await end_offsets(bootstrap, partitions_of(topics.TOUCHPOINTS))
    await start_group_at(bootstrap, "scoring-touchpoints", touchpoints)
    connection = await asyncpg.connect(dsn(settings.database_url))
    ready: asyncio.Task[float] | None = None
    try:
        launched = time.perf_counter()
        process.start()
        ready = asyncio.create_task(ready_time(process))
        scored, progressed, cpu_from = 0, launched, (0.0, 0.0)
        while scored < answers:
            await asyncio.sleep(POLL_SECONDS)
            if ready.done():
                ready.result()  # raises with the log's tail if the process died
            now = time.perf_counter()
            count = await connection.fetchval(_COUNT, WORKSPACE)
            if count and not scored:
                cpu_from = (now, cpu_seconds(process))
            if count > scored:
                scored, progressed = count, now
            elif now - progressed > STALL_SECONDS:
                raise TimeoutError(
                    f"scoring stalled at {scored}/{answers}:\n{process.process.tail()}"
                )
        done_wall = time.time()
        done = time.perf_counter()
        cpu_share = (cpu_seconds(process) - cpu_from[1]) / max(done - cpu_from[0], 1e-3)
        first, batches = await connection.fetchrow(_BATCHES, WORKSPACE)
        counted = await connection.fetchval(_ROLLED_UP, WORKSPACE)
        await ready
    finally:
        if ready is not None:
            ready.cancel()
        await connection.close()
    if counted != answers:
        raise RuntimeError(f"the rollups count {counted} answers, not {answers}")
    details: dict[str, float | int] = {
        "scoring_mean_answers_per_batch": round(scored / batches, 1),
        # Near 100: the process is busy on one core, so its own work sets the pace.
        "scoring_cpu_percent": round(cpu_share * 100, 1),
    }
    working = done_wall - first.timestamp()
    return Throughput("scoring, from its first batch", scored, working, batches), details


async def bulk_answers(settings: StackSettings, *, answers: int) -> Throughput:
    """`answers` answers over the last year written straight into `scoring.answers`, then
    their rollups built by `python -m cxloop_scoring rebuild --repair`: the time that takes
    is the figure returned."""
    connection = await asyncpg.connect(dsn(settings.database_url))
    try:
        await connection.execute(_BULK_ANSWERS, QUERY_WORKSPACE, answers)
    finally:
        await connection.close()
    environment = {**os.environ, "CXLOOP_DATABASE_URL": settings.database_url}
    started = time.perf_counter()
    rebuilt = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "cxloop_scoring",
            "rebuild",
            "--workspace",
            QUERY_WORKSPACE,
            "--repair",
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if rebuilt.returncode != 0:
        raise RuntimeError(
            f"rebuild failed ({rebuilt.returncode}):\n{rebuilt.stdout}\n{rebuilt.stderr}"
        )
    return Throughput(f"rebuild --repair of {answers:,} answers", answers, elapsed)


@dataclass(frozen=True)
class Window:
    """One report the dashboard asks for, by name."""

    name: str
    days: int
    granularity: str
    touchpoint: str | None


WINDOWS = (
    Window("30d_total_one_touchpoint", 30, "total", "checkout"),
    Window("30d_by_day_all_touchpoints", 30, "day", None),
    Window("365d_by_month_one_touchpoint", 365, "month", "checkout"),
)


async def query_latencies(database_url: str) -> list[dict[str, float | int | str]]:
    """Each window read from rollups (scoring's `metrics_report`, through SQLAlchemy) and by a
    GROUP BY over the raw answers (plain asyncpg, the cheapest client), alternately, so both
    see the same machine at the same moments. Windows are whole 15-minute buckets, so both
    count exactly the same answers."""
    engine = create_engine(database_url, pool_size=2)
    sessions = session_factory(engine)
    configs = ConfigCache(sessions, ttl=3600)
    raw = await asyncpg.connect(dsn(database_url))
    end = bucket_after(utcnow())
    rows: list[dict[str, float | int | str]] = []
    try:
        for window in WINDOWS:
            start = bucket_of(end - timedelta(days=window.days))
            query = MetricsQuery(
                workspace_id=QUERY_WORKSPACE,
                touchpoint=window.touchpoint,
                start=start,
                end=end,
                granularity=window.granularity,  # type: ignore[arg-type]
                group_by=None,
            )

            async def from_rollups(query: MetricsQuery = query) -> int:
                async with sessions() as session:
                    report = await metrics_report(
                        session=session, configs=configs, query=query, now=end
                    )
                return sum(value.n for value in report.values)

            async def group_by(window: Window = window, start: datetime = start) -> int:
                arguments: list[object] = [QUERY_WORKSPACE, window.touchpoint, start, end]
                if window.granularity != "total":
                    arguments.append("Asia/Kathmandu")
                found = await raw.fetch(_GROUP_BY[window.granularity], *arguments)
                return sum(row["count"] for row in found)

            rollup_ms, raw_ms, counted = await _alternate(from_rollups, group_by)
            rows.append(
                {
                    "name": window.name,
                    "answers_in_window": counted,
                    "rollups_p50_ms": round(statistics.median(rollup_ms), 2),
                    "rollups_max_ms": round(max(rollup_ms), 2),
                    "group_by_p50_ms": round(statistics.median(raw_ms), 2),
                    "group_by_max_ms": round(max(raw_ms), 2),
                }
            )
    finally:
        await raw.close()
        await engine.dispose()
    return rows


async def _alternate(
    first: Callable[[], Awaitable[int]], second: Callable[[], Awaitable[int]]
) -> tuple[list[float], list[float], int]:
    """Time `first` and `second` one after the other QUERY_REPEATS times (after a warm-up
    of each); both must count the same answers. 25 samples give a median and a max, not a
    p99, so the max is what is reported beside the median."""
    counts = {await first(), await second()}
    if len(counts) != 1:
        raise RuntimeError(f"rollups and GROUP BY disagree on n: {sorted(counts)}")
    first_ms, second_ms = [], []
    for _ in range(QUERY_REPEATS):
        for timed, into in ((first, first_ms), (second, second_ms)):
            started = time.perf_counter()
            await timed()
            into.append((time.perf_counter() - started) * 1000)
    return first_ms, second_ms, counts.pop()


async def gateway_loads(
    settings: StackSettings, *, key: str, seconds: float, concurrency: int
) -> list[Load]:
    """The gateway's /healthz, scoring's internal metrics read, and the same read through
    the gateway's `GET /v1/metrics`, each a closed loop of `concurrency` clients."""
    params = {"touchpoint": "checkout", "granularity": "day"}
    internal = {"Authorization": f"Bearer {settings.internal_token}"}
    read = {"Authorization": f"Bearer {key}"}

    async def healthz(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/healthz")

    async def direct(client: httpx.AsyncClient, _: int) -> httpx.Response:
        query = {**params, "workspace_id": QUERY_WORKSPACE}
        return await client.get("/internal/v1/metrics", params=query, headers=internal)

    async def through(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/v1/metrics", params=params, headers=read)

    loads = []
    for name, request, url in (
        ("gateway GET /healthz (baseline)", healthz, settings.url("gateway")),
        ("scoring /internal/v1/metrics, direct", direct, settings.url("scoring")),
        ("gateway GET /v1/metrics", through, settings.url("gateway")),
    ):
        loads.append(
            await closed_loop(
                name, request, base_url=url, concurrency=concurrency, seconds=seconds, expect={200}
            )
        )
    return loads


async def freshness_samples(settings: StackSettings, *, keys: Keys) -> list[float]:
    """Post an answer to ingest, then poll the gateway's metrics until n counts it."""
    answers_auth = {"Authorization": f"Bearer {keys.answers[FRESH_WORKSPACE]}"}
    read_auth = {"Authorization": f"Bearer {keys.read[FRESH_WORKSPACE]}"}
    start = (utcnow() - timedelta(days=1)).isoformat()
    samples = []
    async with (
        httpx.AsyncClient(base_url=settings.url("ingest"), timeout=10) as ingest,
        httpx.AsyncClient(base_url=settings.url("gateway"), timeout=10) as gateway,
    ):
        for n in range(1, FRESHNESS_SAMPLES + 1):
            posted = await ingest.post(
                "/v1/responses",
                json={
                    "id": f"fresh-{n}",
                    "touchpoint": "checkout",
                    "customer_id": f"c-{n}",
                    "score": 9,
                },
                headers=answers_auth,
            )
            posted.raise_for_status()
            accepted = time.perf_counter()
            deadline = accepted + STALL_SECONDS
            while True:
                report = await gateway.get(
                    "/v1/metrics",
                    params={"touchpoint": "checkout", "from": start},
                    headers=read_auth,
                )
                report.raise_for_status()
                counted = sum(value["n"] for value in report.json()["values"])
                if counted >= n:
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"answer {n} not visible after {STALL_SECONDS} s")
                await asyncio.sleep(FRESHNESS_POLL_SECONDS)
            samples.append((time.perf_counter() - accepted) * 1000)
    return samples


_COUNT = "select count(*) from scoring.answers where workspace_id = $1"
# Every answer of a batch has its transaction's start as recorded_at: one value per batch.
_BATCHES = (
    "select min(recorded_at), count(distinct recorded_at)"
    " from scoring.answers where workspace_id = $1"
)
_ROLLED_UP = (
    "select coalesce(sum(n), 0) from scoring.rollups, lateral"
    " (select sum(c) as n from unnest(counts) as c) as s where workspace_id = $1"
)
# Deterministic spread: 4 touchpoints, 3 channels, a year of minutes, every score on scale.
_BULK_ANSWERS = """
insert into scoring.answers
    (workspace_id, response_id, revision, touchpoint, survey, metric, channel,
     customer_id, score, answered_at)
select $1, 'q-' || g, 1, t.touchpoint, t.touchpoint || '_survey', t.metric,
       (array['email', 'sms', 'web'])[1 + (g / 4) % 3], 'c-' || (g % 100000),
       t.low + ((g * 7919) % t.span)::int, now() - make_interval(mins => ((g * 37) % 525600)::int)
from generate_series(1::bigint, $2::bigint) as g
cross join lateral (
    select * from (values
        (0, 'checkout', 'nps', 0, 11), (1, 'ticket_closed', 'csat', 1, 5),
        (2, 'onboarding', 'ces', 1, 7), (3, 'delivery', 'yes_no', 0, 2)
    ) as v (slot, touchpoint, metric, low, span)
    where v.slot = g % 4
) as t
"""
# The plain answer: the same histograms straight from the raw answers.
_FILTER = (
    "from scoring.answers where workspace_id = $1 and ($2::text is null or touchpoint = $2)"
    " and answered_at >= $3 and answered_at < $4"
)
_GROUP_BY = {
    "total": f"select metric, score, count(*) {_FILTER} group by 1, 2",
    "day": (
        "select metric, date_trunc('day', answered_at at time zone $5), score, count(*)"
        f" {_FILTER} group by 1, 2, 3"
    ),
    "month": (
        "select metric, date_trunc('month', answered_at at time zone $5), score, count(*)"
        f" {_FILTER} group by 1, 2, 3"
    ),
}
