"""`cxloop-scoring rebuild [--workspace W] [--repair]`: check the rollups against the raw rows.

Every rollup is a function of the raw rows: the score histogram of the latest answers
(`answers`; a CX Index answer counts where `rollups.Answer.counts` says) and the count
of invitations sent (`invitations_sent`) per key (workspace, touchpoint, metric,
channel, persona, 15-minute UTC bucket), because every
key part is stamped on the raw row when it is recorded. The rebuild recomputes them
in SQL (INSERT..SELECT with GROUP BY into temporary tables, so it scales to millions
of rows), diffs them against the live rows with a FULL OUTER JOIN, and prints each
difference and a summary. A live row of zeros equals a missing one: a revision that
moves an answer out of a bucket leaves such a row behind.

It runs in one REPEATABLE READ transaction, so the raw rows and the rollups it compares
are one consistent snapshot even while the consumers write. `--repair` first locks
both rollup tables against writes (consumers wait; readers do not), then replaces the
differing rows with the rebuilt ones in the same transaction.

Exit status: 0 when the rollups match (or were repaired), 1 when they differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cxloop_shared.db import create_engine
from cxloop_shared.events import CXI_ITEMS
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxloop_scoring.rollups import BUCKET, SCORES
from cxloop_scoring.settings import Settings

KEY = ("workspace_id", "touchpoint", "metric", "channel", "persona", "bucket")
_KEY = ", ".join(KEY)
# Postgres's date_bin from a UTC midnight is rollups.bucket_of: the 15-minute UTC bucket.
_BUCKET = "date_bin(interval '{minutes} minutes', {column}, timestamptz '2000-01-01 00:00:00+00')"
_ZEROS = f"array_fill(0, array[{SCORES}])"


@dataclass(frozen=True, slots=True)
class RebuildSummary:
    """What a rebuild found (and, with repair, fixed)."""

    rollups: int
    sent_rollups: int
    rollup_differences: int
    sent_differences: int
    repaired: bool

    @property
    def differences(self) -> int:
        """Differences of both kinds."""
        return self.rollup_differences + self.sent_differences

    def line(self) -> str:
        """The summary line the command prints last."""
        found = (
            f"rebuild: {self.rollup_differences} rollup and {self.sent_differences} "
            f"sent-rollup difference(s) against {self.rollups} rollup and "
            f"{self.sent_rollups} sent-rollup row(s) rebuilt from the raw rows"
        )
        if not self.differences:
            return f"{found}; the rollups match"
        return f"{found}; {'repaired' if self.repaired else 'not repaired (use --repair)'}"


def _bucket(column: str) -> str:
    return _BUCKET.format(minutes=int(BUCKET.total_seconds() // 60), column=column)


def _item(item: str) -> str:
    return f"(a.items ->> '{item}')::integer"


# Where each answer counts (rollups.Answer.counts): its score; a CX Index answer at
# metrics.cxi_index of its items, and each item in `cxi.<item>`.
_SIGNS = " + ".join(
    f"case when {_item(i)} >= 4 then 1 when {_item(i)} <= 2 then -1 else 0 end" for i in CXI_ITEMS
)
_CXI_COUNTS = ", ".join(
    [f"('cxi', 3 + {_SIGNS})", *(f"('cxi.{i}', {_item(i)})" for i in CXI_ITEMS)]
)
_COUNTED = """
    select workspace_id, touchpoint, metric, channel, persona, answered_at, score as idx
    from scoring.answers as a where metric <> 'cxi' {scope}
    union all
    select a.workspace_id, a.touchpoint, c.metric, a.channel, a.persona, a.answered_at, c.idx
    from scoring.answers as a cross join lateral (values {cxi}) as c (metric, idx)
    where a.metric = 'cxi' and a.items is not null {scope}"""


def _statements(workspace: str | None) -> dict[str, str]:
    scope = "where workspace_id = :workspace" if workspace is not None else ""
    counted = _COUNTED.format(
        scope="and a.workspace_id = :workspace" if workspace is not None else "", cxi=_CXI_COUNTS
    )
    counts = ", ".join(f"count(*) filter (where idx = {score})" for score in range(SCORES))
    return {
        "rebuilt_rollups": f"""
            create temporary table rebuilt_rollups on commit drop as
            select workspace_id, touchpoint, metric, coalesce(channel, '') as channel, persona,
                   {_bucket("answered_at")} as bucket, array[{counts}]::integer[] as counts
            from ({counted}) as counted
            group by 1, 2, 3, 4, 5, 6""",  # noqa: S608 (identifiers from constants)
        "rebuilt_sent_rollups": f"""
            create temporary table rebuilt_sent_rollups on commit drop as
            select workspace_id, touchpoint, metric, channel, persona,
                   {_bucket("sent_at")} as bucket, count(*)::integer as sent
            from scoring.invitations_sent {scope}
            group by 1, 2, 3, 4, 5, 6""",  # noqa: S608
        "rollup_differences": f"""
            create temporary table rollup_differences on commit drop as
            select {_KEY}, live.counts as live, rebuilt.counts as rebuilt
            from (select * from scoring.rollups {scope}) as live
            full join rebuilt_rollups as rebuilt using ({_KEY})
            where coalesce(live.counts, {_ZEROS})
                  is distinct from coalesce(rebuilt.counts, {_ZEROS})""",  # noqa: S608
        "sent_differences": f"""
            create temporary table sent_differences on commit drop as
            select {_KEY}, live.sent as live, rebuilt.sent as rebuilt
            from (select * from scoring.sent_rollups {scope}) as live
            full join rebuilt_sent_rollups as rebuilt using ({_KEY})
            where coalesce(live.sent, 0) <> coalesce(rebuilt.sent, 0)""",  # noqa: S608
    }


def _repairs(table: str, differences: str, value: str) -> list[str]:
    return [
        f"""delete from scoring.{table} as live using {differences} as difference
            where ({", ".join(f"live.{c}" for c in KEY)})
                = ({", ".join(f"difference.{c}" for c in KEY)})""",  # noqa: S608
        f"""insert into scoring.{table} ({_KEY}, {value})
            select {_KEY}, rebuilt from {differences} where rebuilt is not null""",  # noqa: S608
    ]


def describe(table: str, row: Any) -> str:
    """One difference as printed: the table, the key, the live and the rebuilt value."""
    key = {name: getattr(row, name) for name in KEY}
    key["bucket"] = key["bucket"].isoformat()
    live = "missing" if row.live is None else json.dumps(row.live)
    rebuilt = "missing" if row.rebuilt is None else json.dumps(row.rebuilt)
    return f"{table} {json.dumps(key)}: live {live}, rebuilt {rebuilt}"


async def _count(connection: AsyncConnection, table: str) -> int:
    counted = await connection.scalar(text(f"select count(*) from {table}"))  # noqa: S608
    return int(counted or 0)


async def rebuild(
    engine: AsyncEngine,
    *,
    workspace: str | None = None,
    repair: bool = False,
    emit: Callable[[str], None] = print,
) -> RebuildSummary:
    """Rebuild the rollups (of one workspace, or all) from the raw rows, `emit` each
    difference from the live rows, and with `repair` replace the differing live rows."""
    params = {"workspace": workspace} if workspace is not None else {}
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="REPEATABLE READ")
        async with connection.begin():
            if repair:
                # Before the snapshot is taken: a consumer mid-batch finishes first, and
                # the next one waits for the repaired rows.
                await connection.execute(
                    text("lock table scoring.rollups, scoring.sent_rollups in exclusive mode")
                )
            for statement in _statements(workspace).values():
                await connection.execute(text(statement), params)
            for table, differences in (
                ("rollups", "rollup_differences"),
                ("sent_rollups", "sent_differences"),
            ):
                listed = f"select * from {differences} order by {_KEY}"  # noqa: S608
                rows = await connection.stream(text(listed))
                async for row in rows:
                    emit(describe(table, row))
            summary = RebuildSummary(
                rollups=await _count(connection, "rebuilt_rollups"),
                sent_rollups=await _count(connection, "rebuilt_sent_rollups"),
                rollup_differences=await _count(connection, "rollup_differences"),
                sent_differences=await _count(connection, "sent_differences"),
                repaired=repair,
            )
            if repair and summary.differences:
                for statement in [
                    *_repairs("rollups", "rollup_differences", "counts"),
                    *_repairs("sent_rollups", "sent_differences", "sent"),
                ]:
                    await connection.execute(text(statement))
    emit(summary.line())
    return summary


def command(arguments: list[str]) -> int:
    """Run `rebuild` from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="cxloop-scoring rebuild",
        description="Recompute every rollup from the raw rows and report the differences.",
    )
    parser.add_argument("--workspace", help="only this workspace (default: all)")
    parser.add_argument(
        "--repair", action="store_true", help="replace the differing rollups, then exit 0"
    )
    args = parser.parse_args(arguments)

    async def run() -> RebuildSummary:
        engine = create_engine(Settings().database_url, pool_size=1)
        try:
            return await rebuild(engine, workspace=args.workspace, repair=args.repair)
        finally:
            await engine.dispose()

    summary = asyncio.run(run())
    return 0 if summary.repaired or not summary.differences else 1
