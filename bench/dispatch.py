"""Dispatcher throughput: decisions persisted per second by one dispatch process, against the
raw consume rate of the same broker and the raw insert rate of the same Postgres, all
measured in one run on one stack.

The touchpoints are produced before the dispatcher starts (that part is not measured), so
the dispatcher works through a backlog as fast as it can, like one catching up after an
outage or a traffic spike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import TopicPartition
from cxloop_devstack.ports import free_port
from cxloop_devstack.services import SERVICES
from cxloop_devstack.stack import ServiceProcess, StackSettings
from cxloop_dispatch.policy import decide
from cxloop_shared import topics
from cxloop_shared.cloudevents import KafkaRecord, decode, encode
from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived, utcnow
from cxloop_shared.settings import ServiceSettings

from bench.backlog import (
    STALL_SECONDS,
    chunks,
    cpu_seconds,
    dsn,
    prefill,
    raw_consumer,
    ready_time,
    start_group_at,
)
from bench.runner import Throughput

EVENTS = 20_000
CUSTOMERS = 5_000
WORKSPACE = "bench-dispatch"
# The dispatcher's default, passed to it explicitly so both sides of the comparison agree
# whatever CXLOOP_ variables the shell running the bench has.
BATCH_SIZE: int = ServiceSettings.model_fields["consumer_batch_size"].default
# What the dispatch process is started with (StackSettings.extra["dispatch"]).
SERVICE_ENVIRONMENT = {"CXLOOP_LOG_LEVEL": "WARNING", "CXLOOP_CONSUMER_BATCH_SIZE": str(BATCH_SIZE)}
# Each poll counts every row so far, on the Postgres the dispatcher is using: often enough
# for a fine end time, rarely enough not to slow it down.
POLL_SECONDS = 0.2


@dataclass
class DispatchResults:
    """The dispatch benchmark's measurements and what they say together."""

    raw_consume: Throughput
    raw_insert: Throughput
    decide_only: Throughput
    dispatcher: Throughput
    dispatcher_from_start: Throughput
    details: dict[str, float | int]

    def rows(self) -> list[dict[str, float | int | str]]:
        """The figures kept in the JSON results, the fullest row first (it sets the columns)."""
        measured = [
            self.raw_consume,
            self.raw_insert,
            self.decide_only,
            self.dispatcher,
            self.dispatcher_from_start,
        ]
        return [throughput.summary() for throughput in measured]

    def ratios(self) -> dict[str, float]:
        """Decisions per second against each ceiling; the last one says how much of a
        decision's time is the policy itself rather than I/O."""
        rate = self.dispatcher.item_rate
        return {
            "dispatch_decisions_vs_raw_consume": rate / self.raw_consume.item_rate,
            "dispatch_decisions_vs_raw_insert": rate / self.raw_insert.item_rate,
            "dispatch_decisions_vs_decide_only": rate / self.decide_only.item_rate,
        }


async def run(
    *, settings: StackSettings, log_dir: Path, events: int, idempotence: bool
) -> DispatchResults:
    """Configure the workspace and fill `cx.touchpoints`; then measure decode + decide
    alone, the raw consumer, the dispatcher, and the raw insert of the rows it wrote."""
    config = await configure_workspace(settings)
    records = touchpoints(events)
    start = await prefill(
        settings.kafka_bootstrap, records, topic=topics.TOUCHPOINTS, idempotence=idempotence
    )
    decide_only = decide_without_io(records, config)
    raw_consume = await raw_consumer(
        settings.kafka_bootstrap,
        topic=topics.TOUCHPOINTS,
        start=start,
        records=events,
        batch_size=BATCH_SIZE,
    )
    dispatcher, from_start, details = await dispatcher_run(
        settings, log_dir, start=start, events=events
    )
    raw_insert = await raw_inserts(settings.database_url, events=events)
    return DispatchResults(raw_consume, raw_insert, decide_only, dispatcher, from_start, details)


def config_document(*, smtp_port: int) -> dict[str, Any]:
    """One measured touchpoint, `checkout` → a CSAT survey by email. The window is the whole
    day and the delay a day, so every invitation is scheduled for tomorrow and the scheduler
    sends nothing while we measure."""
    return {
        "workspace": WORKSPACE,
        "timezone": "UTC",
        "touchpoints": {
            "checkout": {
                "stage": "purchase",
                "survey": "csat_checkout",
                "policy": {
                    "delay": "P1D",
                    "send_window": {"start": "00:00", "end": "00:00"},
                    "expire_after": "P3D",
                    "channels": ["preferred", "email"],
                },
            }
        },
        "surveys": {
            "csat_checkout": {
                "metric": "csat",
                "question": {"en": "How satisfied are you with your checkout?"},
            }
        },
        # Nothing listens there: a send, should one happen, fails rather than goes out.
        "channels": {
            "email": {
                "kind": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "Bench <cx@bench.test>",
            }
        },
    }


async def configure_workspace(settings: StackSettings) -> WorkspaceConfig:
    """Create the workspace with the admin token and PUT its configuration, as an operator
    would; return the configuration the dispatcher will read."""
    document = config_document(smtp_port=free_port())
    async with httpx.AsyncClient(base_url=settings.url("gateway"), timeout=10) as gateway:
        created = await gateway.post(
            "/v1/workspaces",
            json={"id": WORKSPACE},
            headers={"Authorization": f"Bearer {settings.admin_token}"},
        )
        created.raise_for_status()
        admin_key = created.json()["admin_key"]["key"]
        applied = await gateway.put(
            "/v1/config", json=document, headers={"Authorization": f"Bearer {admin_key}"}
        )
        applied.raise_for_status()
    return WorkspaceConfig.model_validate(document)


def touchpoints(events: int) -> list[KafkaRecord]:
    """`events` checkouts by `CUSTOMERS` customers, encoded as ingest publishes them."""
    now = utcnow()
    records = []
    for n in range(events):
        customer = n % CUSTOMERS
        touchpoint = TouchpointReceived(
            workspace_id=WORKSPACE,
            source="api",
            received_at=now,
            event=Touchpoint(
                id=f"{WORKSPACE}-{n}",
                touchpoint="checkout",
                occurred_at=now,
                customer=Customer(id=f"c-{customer}", email=f"c{customer}@example.com"),
                attributes={"order_value": 42.0},
            ),
        )
        records.append(encode(touchpoint, topic=topics.TOUCHPOINTS, source="cxloop/ingest"))
    return records


def decide_without_io(records: Sequence[KafkaRecord], config: WorkspaceConfig) -> Throughput:
    """Decode and decide each touchpoint in this process, nothing read or written: the CPU a
    decision costs before any I/O, so the dispatcher's rate can be read as a share of it."""
    now = utcnow()
    started = time.perf_counter()
    for record in records:
        touchpoint = decode(record.headers, record.value)
        assert isinstance(touchpoint, TouchpointReceived)
        decide(touchpoint=touchpoint, config=config, now=now)
    elapsed = time.perf_counter() - started
    batches = -(-len(records) // BATCH_SIZE)
    return Throughput("decode + decide, no I/O (this process)", len(records), elapsed, batches)


async def dispatcher_run(
    settings: StackSettings, log_dir: Path, *, start: dict[TopicPartition, int], events: int
) -> tuple[Throughput, Throughput, dict[str, float | int]]:
    """One dispatch process working through the backlog; decisions counted as rows in
    `dispatch.invitations`. Timed from its first row (the first batch's transaction) to the
    poll that sees the last, and also from the process launch (imports, group join)."""
    await start_group_at(settings.kafka_bootstrap, "dispatch", start)
    spec = next(spec for spec in SERVICES if spec.name == "dispatch")
    process = ServiceProcess(spec, settings, log_dir)
    connection = await asyncpg.connect(dsn(settings.database_url))
    ready: asyncio.Task[float] | None = None
    try:
        launched, launched_wall = time.perf_counter(), time.time()
        process.start()
        ready = asyncio.create_task(ready_time(process))
        decided, progressed = 0, launched
        cpu_from = (0.0, 0.0)
        while decided < events:
            await asyncio.sleep(POLL_SECONDS)
            if ready.done():
                ready.result()  # raises with the log's tail if the process died
            now = time.perf_counter()
            count = await connection.fetchval(_COUNT, WORKSPACE)
            if count and not decided:
                cpu_from = (now, cpu_seconds(process))
            if count > decided:
                decided, progressed = count, now
            elif now - progressed > STALL_SECONDS:
                raise TimeoutError(
                    f"dispatch stalled at {decided}/{events} rows:\n{process.process.tail()}"
                )
        done, done_wall = time.perf_counter(), time.time()
        cpu_share = (cpu_seconds(process) - cpu_from[1]) / max(done - cpu_from[0], 1e-3)
        waiting = await connection.fetchval("select count(*) from dispatch.outbox")
        first_row, batches = await connection.fetchrow(_BATCHES, WORKSPACE)
        ready_at = await ready
    finally:
        if ready is not None:
            ready.cancel()
        process.stop()
        await connection.close()
    working = done_wall - first_row.timestamp()
    details: dict[str, float | int] = {
        "ready_after_s": round(ready_at - launched, 3),
        "first_row_after_s": round(first_row.timestamp() - launched_wall, 3),
        "mean_rows_per_batch": round(decided / batches, 1),
        "outbox_waiting_at_last_row": waiting,
        # Near 100: the process is busy on one core, so it is its own work, not the
        # database or the broker, that sets the pace.
        "dispatcher_cpu_percent": round(cpu_share * 100, 1),
    }
    return (
        Throughput("dispatcher, from its first row", decided, working, batches),
        Throughput("dispatcher, from process launch", decided, done - launched),
        details,
    )


async def raw_inserts(database_url: str, *, events: int) -> Throughput:
    """The dispatcher's own rows inserted again into a copy of its table (same columns,
    indexes and constraints), a batch of the consumer's size per transaction with one
    pipelined statement: the most this Postgres takes of such rows from one client."""
    connection = await asyncpg.connect(dsn(database_url))
    try:
        await connection.execute(
            "create schema if not exists bench_scratch;"
            "drop table if exists bench_scratch.invitations;"
            "create table bench_scratch.invitations"
            " (like dispatch.invitations including all)"
        )
        decided = await connection.fetch(
            "select * from dispatch.invitations where workspace_id = $1", WORKSPACE
        )
        # created_at is left to its default, as the dispatcher leaves it.
        columns = [name for name, _ in decided[0].items() if name != "created_at"]
        rows = [tuple(row[name] for name in columns) for row in decided]
        target = f"bench_scratch.invitations ({', '.join(columns)})"
        params = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        # Nothing from outside: the column names are the table's own.
        statement = f"insert into {target} values ({params}) on conflict do nothing"  # noqa: S608
        started = time.perf_counter()
        batches = 0
        for batch in chunks(rows, BATCH_SIZE):
            async with connection.transaction():
                await connection.executemany(statement, batch)
            batches += 1
        elapsed = time.perf_counter() - started
        inserted = await connection.fetchval("select count(*) from bench_scratch.invitations")
    finally:
        await connection.execute("drop schema if exists bench_scratch cascade")
        await connection.close()
    if inserted != events:
        raise RuntimeError(f"raw insert stored {inserted} rows, not {events}")
    return Throughput(
        f"raw insert, {BATCH_SIZE} per transaction (same Postgres)", inserted, elapsed, batches
    )


_COUNT = "select count(*) from dispatch.invitations where workspace_id = $1"
# Every row of a batch has its transaction's start as created_at: one distinct value each.
_BATCHES = (
    "select min(created_at), count(distinct created_at)"
    " from dispatch.invitations where workspace_id = $1"
)
