"""Creating and reading workspaces."""

from __future__ import annotations

from cxloop_shared.errors import Conflict, NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.keys import service as keys_service
from cxloop_gateway.workspaces import repository
from cxloop_gateway.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceCreated

ADMIN_KEY_NAME = "admin (issued with the workspace)"


async def create(session: AsyncSession, request: WorkspaceCreate) -> WorkspaceCreated:
    """Create the workspace, and its first admin key unless the request declines one."""
    row = await repository.insert_new(
        session,
        workspace_id=request.id,
        name=request.name or request.id,
        timezone=request.timezone,
    )
    if row is None:
        raise Conflict(f"workspace {request.id!r} already exists")
    admin_key = None
    if request.issue_admin_key:
        admin_key = await keys_service.issue(
            session, workspace_id=request.id, name=ADMIN_KEY_NAME, scopes=["admin"]
        )
    return WorkspaceCreated(workspace=Workspace.model_validate(dict(row)), admin_key=admin_key)


async def get(session: AsyncSession, workspace_id: str) -> Workspace:
    """The workspace, or NotFound."""
    row = await repository.get(session, workspace_id)
    if row is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return Workspace.model_validate(dict(row))
