"""Answers read from scoring: pages passed on as they are, exports streamed straight through."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import structlog
from cxloop_shared.answers import ExportFormat, ResponseFilter, ResponsePage
from cxloop_shared.events import utcnow
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from cxloop_gateway.scoring import ScoringClient

log = structlog.get_logger(__name__)

MEDIA_TYPES: dict[ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
}
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


async def page(
    scoring: ScoringClient,
    *,
    workspace_id: str,
    filters: ResponseFilter,
    limit: int,
    cursor: str | None,
) -> ResponsePage:
    """One page of the workspace's answers; scoring checks the cursor."""
    query = {**filters.query(), "limit": str(limit)}
    if cursor is not None:
        query["cursor"] = cursor
    return await scoring.read(
        ResponsePage, "/internal/v1/responses", workspace_id=workspace_id, query=query
    )


def attachment_name(*, workspace_id: str, export_format: ExportFormat) -> str:
    """`responses-<workspace>-<UTC time>.<format>`, safe in a Content-Disposition header."""
    workspace = _UNSAFE_IN_FILENAME.sub("_", workspace_id)
    return f"responses-{workspace}-{utcnow():%Y%m%dT%H%M%SZ}.{export_format}"


async def export(
    scoring: ScoringClient,
    *,
    workspace_id: str,
    filters: ResponseFilter,
    export_format: ExportFormat,
) -> StreamingResponse:
    """Scoring's export, passed through chunk by chunk: the gateway never holds it whole.

    Scoring's refusals (bad filters) arrive before its body, so they are answered as
    problems; once the body flows, a failure can only cut the download short, which the
    client sees as an incomplete chunked body rather than a file that looks whole.
    """
    upstream = await scoring.open_stream(
        "/internal/v1/responses/export",
        workspace_id=workspace_id,
        query={**filters.query(), "format": export_format},
    )
    filename = attachment_name(workspace_id=workspace_id, export_format=export_format)
    return StreamingResponse(
        _relay(upstream),
        media_type=MEDIA_TYPES[export_format],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
        # Also closes scoring's response when the client left before the body started.
        background=BackgroundTask(upstream.aclose),
    )


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        log.warning("responses.export_cut_short", error=repr(exc))
        raise
    finally:
        await upstream.aclose()
