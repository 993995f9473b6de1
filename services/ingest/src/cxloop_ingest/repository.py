"""Every SQL statement of ingest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_ingest.tables import answers, received_events


async def remember_events(
    session: AsyncSession, *, workspace_id: str, source: str, event_ids: Sequence[str]
) -> set[str]:
    """Record event ids as received; return the ones seen for the first time."""
    if not event_ids:
        return set()
    statement = (
        insert(received_events)
        .values(
            [{"workspace_id": workspace_id, "source": source, "event_id": e} for e in event_ids]
        )
        .on_conflict_do_nothing()
        .returning(received_events.c.event_id)
    )
    return set((await session.scalars(statement)).all())


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The latest revision of an answer as ingest recorded it."""

    revision: int
    score: int
    comment: str | None


async def latest_answer(
    session: AsyncSession, *, workspace_id: str, response_id: str
) -> StoredAnswer | None:
    """The answer's latest revision, locked until the transaction ends."""
    row = (
        await session.execute(
            select(answers.c.revision, answers.c.score, answers.c.comment)
            .where(answers.c.workspace_id == workspace_id, answers.c.response_id == response_id)
            .with_for_update()
        )
    ).first()
    return StoredAnswer(row.revision, row.score, row.comment) if row else None


async def save_answer(
    session: AsyncSession,
    *,
    workspace_id: str,
    response_id: str,
    invitation_id: uuid.UUID | None,
    revision: int,
    score: int,
    comment: str | None,
    answered_at: datetime,
) -> None:
    """Store an answer's new revision."""
    values = {
        "workspace_id": workspace_id,
        "response_id": response_id,
        "invitation_id": invitation_id,
        "revision": revision,
        "score": score,
        "comment": comment,
        "answered_at": answered_at,
    }
    statement = insert(answers).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[answers.c.workspace_id, answers.c.response_id],
        set_={k: statement.excluded[k] for k in ("revision", "score", "comment", "answered_at")},
    )
    await session.execute(statement)
