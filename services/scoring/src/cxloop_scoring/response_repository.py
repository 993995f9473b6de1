"""Every SQL statement of the answers read API: filtered pages by keyset, and the export
streamed from a server-side cursor. Nothing here commits: the entry point owns the
transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from cxloop_shared.answers import RESPONSE_COLUMNS, ResponseFilter
from sqlalchemy import RowMapping, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring.responses import ResponseCursor
from cxloop_scoring.tables import answers


def _matching(workspace_id: str, where: ResponseFilter) -> Select[tuple[object, ...]]:
    """The workspace's answers (latest revision of each) that pass the filter, newest first."""
    statement = select(*(answers.c[name] for name in RESPONSE_COLUMNS)).where(
        answers.c.workspace_id == workspace_id
    )
    equal = {
        "touchpoint": where.touchpoint,
        "metric": where.metric,
        "channel": where.channel,
        "customer_id": where.customer_id,
    }
    for column, value in equal.items():
        if value is not None:
            statement = statement.where(answers.c[column] == value)
    if where.score_min is not None:
        statement = statement.where(answers.c.score >= where.score_min)
    if where.score_max is not None:
        statement = statement.where(answers.c.score <= where.score_max)
    if where.has_comment is not None:
        # A comment of blanks says nothing, so it counts as none.
        commented = func.coalesce(func.btrim(answers.c.comment), "") != ""
        statement = statement.where(commented if where.has_comment else ~commented)
    if where.start is not None:
        statement = statement.where(answers.c.answered_at >= where.start)
    if where.end is not None:
        statement = statement.where(answers.c.answered_at < where.end)
    # response_id breaks ties between answers given at the same instant, so the order
    # is total and a keyset cursor never skips or repeats one.
    return statement.order_by(answers.c.answered_at.desc(), answers.c.response_id.desc())


async def page_of_answers(
    session: AsyncSession,
    *,
    workspace_id: str,
    where: ResponseFilter,
    limit: int,
    after: ResponseCursor | None,
) -> list[RowMapping]:
    """Up to `limit` matching answers, newest first, that come after the cursor."""
    statement = _matching(workspace_id, where)
    if after is not None:
        statement = statement.where(
            tuple_(answers.c.answered_at, answers.c.response_id) < tuple_(*after)
        )
    return list((await session.execute(statement.limit(limit))).mappings())


async def stream_answers(
    session: AsyncSession, *, workspace_id: str, where: ResponseFilter, batch: int
) -> AsyncIterator[Sequence[RowMapping]]:
    """Every matching answer, newest first, in batches read from a server-side cursor.

    One statement is one snapshot: an export is complete and consistent however many
    answers arrive or are revised while it runs.
    """
    statement = _matching(workspace_id, where).execution_options(yield_per=batch)
    result = await session.stream(statement)
    async for rows in result.mappings().partitions(batch):
        yield rows
