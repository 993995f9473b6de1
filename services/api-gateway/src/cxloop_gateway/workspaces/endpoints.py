"""Routes of /v1/workspaces."""

from __future__ import annotations

from fastapi import APIRouter, status

from cxloop_gateway.deps import AdminTokenDep, Caller, SessionDep
from cxloop_gateway.workspaces import service
from cxloop_gateway.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceCreated

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_workspace(
    request: WorkspaceCreate, session: SessionDep, _: AdminTokenDep
) -> WorkspaceCreated:
    """Create a workspace (bootstrap admin token only); 409 if the id is taken."""
    return await service.create(session, request)


@router.get("/current")
async def current_workspace(session: SessionDep, caller: Caller) -> Workspace:
    """The workspace the caller acts on."""
    return await service.get(session, caller.workspace_id)
