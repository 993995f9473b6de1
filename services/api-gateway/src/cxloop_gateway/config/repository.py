"""Queries on gateway.workspace_configs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.tables import workspace_configs


async def get(
    session: AsyncSession, workspace_id: str, *, for_update: bool = False
) -> Row[tuple[dict[str, Any], int]] | None:
    """The stored document and its version, or None; `for_update` serialises writers."""
    statement = select(workspace_configs.c.document, workspace_configs.c.version).where(
        workspace_configs.c.workspace_id == workspace_id
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).one_or_none()


async def save(session: AsyncSession, *, workspace_id: str, document: dict[str, Any]) -> int:
    """Store the document as the workspace's next version and return that version."""
    statement = pg_insert(workspace_configs).values(
        workspace_id=workspace_id, document=document, version=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=[workspace_configs.c.workspace_id],
        set_={
            "document": statement.excluded.document,
            "version": workspace_configs.c.version + 1,
            "updated_at": func.now(),
        },
    ).returning(workspace_configs.c.version)
    version: int = (await session.execute(statement)).scalar_one()
    return version
