"""Routes of /v1/config: the whole workspace configuration, as in `cxloop.yaml`.

`router` also carries the routes of its parts (parts_endpoints), so the app includes one
router for all of the configuration.
"""

from __future__ import annotations

from typing import Any

from cxloop_shared.http import read_body
from fastapi import APIRouter, Request

from cxloop_gateway.config import documents, service
from cxloop_gateway.config.parts_endpoints import router as parts_router
from cxloop_gateway.config.schemas import ConfigApplied
from cxloop_gateway.deps import ConfigWriter, SessionDep, SettingsDep

whole = APIRouter(prefix="/v1/config", tags=["configuration"])

_BODY = {
    "requestBody": {
        "required": True,
        "description": "The whole configuration (the cxloop.yaml shape) as JSON; a masked "
        f"secret ({documents.MASK!r}) keeps the stored one.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@whole.get("")
async def get_config(session: SessionDep, caller: ConfigWriter) -> dict[str, Any]:
    """The workspace configuration with secrets masked, plus its `version`."""
    return await service.read(session, caller.workspace_id)


@whole.put("", openapi_extra=_BODY)
async def put_config(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: ConfigWriter,
    dry_run: bool = False,
) -> ConfigApplied:
    """Replace the workspace configuration; with `dry_run` only report what would change."""
    # Read by hand rather than as a body parameter, to cap its size before parsing.
    body = await read_body(request, limit=settings.config_body_limit_bytes)
    return await service.apply(
        session,
        workspace_id=caller.workspace_id,
        proposed=documents.parse(body),
        dry_run=dry_run,
    )


router = APIRouter()
router.include_router(whole)
router.include_router(parts_router)
