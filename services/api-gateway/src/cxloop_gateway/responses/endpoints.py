"""Routes of /v1/responses: the workspace's answers, a page at a time or all as a file."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.answers import DEFAULT_PAGE, ExportFormat, ResponseFilter, ResponsePage
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from cxloop_gateway.deps import MetricsReader, PageLimit, ScoringDep
from cxloop_gateway.responses import service

router = APIRouter(prefix="/v1/responses", tags=["responses"])

Filters = Annotated[ResponseFilter, Query()]


@router.get("", response_model=ResponsePage)
async def list_responses(
    scoring: ScoringDep,
    caller: MetricsReader,
    filters: Filters,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the page before.")
    ] = None,
) -> ResponsePage:
    """Answers (latest revision of each), newest first, filtered; follow `next_cursor`."""
    return await service.page(
        scoring, workspace_id=caller.workspace_id, filters=filters, limit=limit, cursor=cursor
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching answer, newest first, as an attachment.",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        }
    },
)
async def export_responses(
    scoring: ScoringDep,
    caller: MetricsReader,
    filters: Filters,
    export_format: Annotated[ExportFormat, Query(alias="format")] = "csv",
) -> StreamingResponse:
    """Every matching answer as CSV (header row, formula-safe cells) or NDJSON, streamed."""
    return await service.export(
        scoring, workspace_id=caller.workspace_id, filters=filters, export_format=export_format
    )
