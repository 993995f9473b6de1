"""Helpers of the scoring erasure tests: erasure requests as the consumer delivers them,
and what the scoring schema holds afterwards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from cxloop_shared.events import CustomerChanged
from cxloop_shared.kafka import Delivery
from scoring_support import T0
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def erasure(
    workspace_id: str,
    customer_id: str = "c-1",
    change: Literal["opt_out", "opt_in", "erasure"] = "erasure",
) -> Delivery:
    """A CustomerChanged on cx.customers: an erasure request unless told."""
    event = CustomerChanged(
        workspace_id=workspace_id,
        customer_id=customer_id,
        change=change,
        channel="email" if change != "erasure" else None,
        changed_at=T0 + timedelta(days=1),
    )
    return Delivery("cx.customers", 0, 0, event, [])


async def rows(engine: AsyncEngine, table: str, workspace_id: str) -> list[dict[str, Any]]:
    """Every row of a scoring table for the workspace, in a stable order."""
    async with engine.connect() as connection:
        found = await connection.execute(
            text(f"select * from scoring.{table} where workspace_id = :w"),  # noqa: S608
            {"w": workspace_id},
        )
        return sorted((dict(row._mapping) for row in found), key=repr)


async def text_holding(engine: AsyncEngine, needle: str) -> list[str]:
    """Every `table.column` of the scoring schema whose text or JSON holds `needle`."""
    async with engine.connect() as connection:
        columns = await connection.execute(
            text(
                "select table_name, column_name from information_schema.columns"
                " where table_schema = 'scoring' and data_type in ('text', 'jsonb', 'json')"
            )
        )
        found = []
        for table, column in columns.all():
            hits = await connection.scalar(
                text(
                    f'select count(*) from scoring."{table}"'  # noqa: S608 (from the catalog)
                    f' where strpos(cast("{column}" as text), :needle) > 0'
                ),
                {"needle": needle},
            )
            if hits:
                found.append(f"{table}.{column}")
        return found


async def waiting_for_a_lock(engine: AsyncEngine) -> bool:
    """Whether some session of this database waits for an advisory lock right now."""
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and wait_event_type = 'Lock' and wait_event = 'advisory'"
            )
        )
        return bool(waiting)
