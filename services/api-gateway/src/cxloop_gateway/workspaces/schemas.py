"""Wire models of /v1/workspaces."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from cxloop_shared.events import TimeZoneName
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cxloop_gateway.keys.schemas import IssuedKey

# Narrower than a config Key: no ':' or '/', since workspace ids end up in Kafka keys
# (`<workspace>:<customer>`) and in URLs.
WorkspaceId = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class WorkspaceCreate(BaseModel):
    """A new workspace."""

    model_config = ConfigDict(extra="forbid")

    id: WorkspaceId
    # No NUL character: Postgres text cannot hold one.
    name: (
        Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
        | None
    ) = Field(None, description="Display name; the id when absent.")
    timezone: TimeZoneName = "UTC"
    issue_admin_key: bool = Field(
        True, description="Also issue a key with the admin scope, returned once."
    )


class Workspace(BaseModel):
    """A workspace: the tenant every key, touchpoint and answer belongs to."""

    id: str
    name: str
    timezone: str
    created_at: datetime


class WorkspaceCreated(BaseModel):
    """The new workspace and, unless declined, its first admin key (plaintext shown once)."""

    workspace: Workspace
    admin_key: IssuedKey | None
