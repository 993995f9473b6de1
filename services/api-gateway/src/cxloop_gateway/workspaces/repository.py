"""Queries on gateway.workspaces."""

from __future__ import annotations

from sqlalchemy import RowMapping, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.tables import workspaces


async def exists(session: AsyncSession, workspace_id: str) -> bool:
    """Whether the workspace exists."""
    found = await session.scalar(select(workspaces.c.id).where(workspaces.c.id == workspace_id))
    return found is not None


async def get(session: AsyncSession, workspace_id: str) -> RowMapping | None:
    """The workspace's row, or None."""
    result = await session.execute(select(workspaces).where(workspaces.c.id == workspace_id))
    return result.mappings().one_or_none()


async def insert_new(
    session: AsyncSession, *, workspace_id: str, name: str, timezone: str
) -> RowMapping | None:
    """Insert the workspace and return its row; None when the id is taken."""
    statement = (
        pg_insert(workspaces)
        .values(id=workspace_id, name=name, timezone=timezone)
        .on_conflict_do_nothing(index_elements=[workspaces.c.id])
        .returning(*workspaces.c)
    )
    return (await session.execute(statement)).mappings().one_or_none()


async def set_timezone(session: AsyncSession, *, workspace_id: str, timezone: str) -> None:
    """Keep the workspace's time zone in step with its configuration."""
    await session.execute(
        update(workspaces).where(workspaces.c.id == workspace_id).values(timezone=timezone)
    )
