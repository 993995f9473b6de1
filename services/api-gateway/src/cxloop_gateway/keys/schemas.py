"""Wire models of /v1/api-keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from cxloop_shared.apikeys import Scope
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# No NUL character: Postgres text cannot hold one.
KeyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00]*$"),
]


class ApiKeyCreate(BaseModel):
    """A key to issue for the caller's workspace."""

    model_config = ConfigDict(extra="forbid")

    name: KeyName
    scopes: list[Scope] = Field(min_length=1, max_length=20)


class ApiKey(BaseModel):
    """A key as listed: never its plaintext, never its hash."""

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedKey(BaseModel):
    """A key just issued: `key` is its plaintext, shown this once and stored nowhere."""

    id: uuid.UUID
    name: str
    prefix: str
    key: str
    scopes: list[str]
    created_at: datetime


class ApiKeyPage(BaseModel):
    """One page of keys; pass `next_after` as `after` for the next page (null: the last one)."""

    items: list[ApiKey]
    next_after: uuid.UUID | None
