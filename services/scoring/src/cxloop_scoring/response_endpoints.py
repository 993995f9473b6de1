"""Scoring's internal answers API, called by the gateway: filtered pages and the export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from cxloop_shared.answers import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ExportFormat,
    ResponseFilter,
    ResponsePage,
    ResponseView,
)
from cxloop_shared.events import Key
from cxloop_shared.http import InternalCaller
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_scoring import response_repository
from cxloop_scoring.deps import SessionDep
from cxloop_scoring.responses import (
    MEDIA_TYPES,
    decode_cursor,
    encode_cursor,
    export_chunk,
    export_header,
)

router = APIRouter(
    prefix="/internal/v1/responses", tags=["internal"], dependencies=[InternalCaller]
)

# Rows fetched from the server-side cursor at a time: one chunk of the streamed body.
EXPORT_BATCH = 500

Filters = Annotated[ResponseFilter, Query()]
# Past the cap is a 422 rather than a short page, which a client could take for the end.
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}.")]


@router.get("", response_model=ResponsePage)
async def list_responses(
    session: SessionDep,
    workspace_id: Key,
    filters: Filters,
    limit: PageSize = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ResponsePage:
    """A workspace's answers (latest revision of each), newest first, one page at a time."""
    after = decode_cursor(cursor) if cursor else None
    rows = await response_repository.page_of_answers(
        session, workspace_id=workspace_id, where=filters, limit=limit + 1, after=after
    )
    page = [ResponseView.model_validate(row) for row in rows[:limit]]
    last = page[-1] if len(rows) > limit else None
    return ResponsePage(
        items=page,
        next_cursor=encode_cursor((last.answered_at, last.response_id)) if last else None,
    )


@router.get("/export", response_class=StreamingResponse)
async def export_responses(
    request: Request,
    workspace_id: Key,
    filters: Filters,
    export_format: Annotated[ExportFormat, Query(alias="format")] = "csv",
) -> StreamingResponse:
    """Every matching answer, newest first, as CSV (with a header row) or NDJSON, streamed."""
    body = _export(
        request.app.state.sessions,
        workspace_id=workspace_id,
        where=filters,
        export_format=export_format,
    )
    return StreamingResponse(body, media_type=MEDIA_TYPES[export_format])


async def _export(
    sessions: async_sessionmaker[AsyncSession],
    *,
    workspace_id: str,
    where: ResponseFilter,
    export_format: ExportFormat,
) -> AsyncIterator[str]:
    # Its own session, opened when the body starts and closed when it ends or the client
    # leaves: the body outlives the endpoint, so it does not lean on the request's session.
    if header := export_header(export_format):
        yield header
    async with sessions() as session, session.begin():
        batches = response_repository.stream_answers(
            session, workspace_id=workspace_id, where=where, batch=EXPORT_BATCH
        )
        async for rows in batches:
            views = [ResponseView.model_validate(row) for row in rows]
            yield export_chunk(views, export_format=export_format)
