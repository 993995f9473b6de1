"""Routes of /v1/api-keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from cxloop_gateway.deps import Admin, PageLimit, SessionDep
from cxloop_gateway.keys import service
from cxloop_gateway.keys.schemas import ApiKey, ApiKeyCreate, ApiKeyPage, IssuedKey

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(request: ApiKeyCreate, session: SessionDep, caller: Admin) -> IssuedKey:
    """Issue a key for the caller's workspace; the plaintext is in this response only."""
    return await service.issue(
        session, workspace_id=caller.workspace_id, name=request.name, scopes=request.scopes
    )


@router.get("")
async def list_keys(
    session: SessionDep,
    caller: Admin,
    after: uuid.UUID | None = None,
    limit: PageLimit = 100,
) -> ApiKeyPage:
    """The workspace's keys, revoked ones included, oldest first."""
    return await service.list_page(
        session, workspace_id=caller.workspace_id, after=after, limit=limit
    )


@router.get("/{key_id}")
async def get_key(key_id: uuid.UUID, session: SessionDep, caller: Admin) -> ApiKey:
    """One key of the workspace."""
    return await service.get(session, workspace_id=caller.workspace_id, key_id=key_id)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: uuid.UUID, session: SessionDep, caller: Admin) -> Response:
    """Revoke a key; it stops working immediately on the gateway, within seconds elsewhere."""
    await service.revoke(session, workspace_id=caller.workspace_id, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
