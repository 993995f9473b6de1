"""Route of /v1/stream: server-sent events for live dashboards.

A plain authenticated GET, so `fetch()` with an Authorization header reads it (a browser's
EventSource cannot send one). Events are live only: nothing is replayed on reconnect, so
a client re-reads the REST APIs after reconnecting (`Last-Event-ID` is ignored).
"""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.errors import ServiceUnavailable
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from cxloop_gateway.deps import (
    AuthenticatorDep,
    BearerDep,
    MetricsReader,
    SettingsDep,
    WorkspaceHeader,
)
from cxloop_gateway.stream import service
from cxloop_gateway.stream.service import StreamHub

router = APIRouter(prefix="/v1/stream", tags=["stream"])

# The caller's key is checked again every this many heartbeats (a minute at 15 s).
RECHECK_EVERY = 4


def get_hub(request: Request) -> StreamHub:
    """The process's stream hub."""
    hub: StreamHub = request.app.state.stream
    return hub


HubDep = Annotated[StreamHub, Depends(get_hub)]


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Events `response`, `alert`, `metrics` (and a last `overflow`).",
            "content": {"text/event-stream": {}},
        },
        429: {"description": "The workspace has as many streams open as it may."},
    },
)
async def stream(
    request: Request,
    hub: HubDep,
    settings: SettingsDep,
    caller: MetricsReader,
    authenticator: AuthenticatorDep,
    bearer: BearerDep,
    workspace: WorkspaceHeader = None,
) -> StreamingResponse:
    """The workspace's answers, alerts and metric changes as they happen."""
    if not hub.live:
        raise ServiceUnavailable("the live stream is not connected to Kafka yet; retry shortly")
    subscription = hub.subscribe(caller.workspace_id)
    still_allowed = service.key_recheck(
        sessions=request.app.state.sessions,
        authenticator=authenticator,
        token=bearer.credentials if bearer else "",
        workspace_header=workspace,
    )
    return StreamingResponse(
        service.stream_body(
            hub,
            subscription,
            heartbeat=settings.stream_heartbeat_seconds,
            still_allowed=still_allowed,
            recheck_every=RECHECK_EVERY,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # Also forgets the stream when the client left before its body started.
        background=BackgroundTask(hub.unsubscribe, subscription),
    )
