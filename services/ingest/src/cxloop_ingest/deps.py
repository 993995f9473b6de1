"""FastAPI dependencies of ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from cxloop_shared.apikeys import KeyVerifier, Principal
from cxloop_shared.errors import ServiceUnavailable
from cxloop_shared.failures import is_transient
from cxloop_shared.outbox import Outbox
from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_ingest.intake import Intake
from cxloop_ingest.settings import Settings


@asynccontextmanager
async def database_outage_is_503() -> AsyncIterator[None]:
    """Turn a database that is down into a 503 with Retry-After, never a 500."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise ServiceUnavailable("the database is unavailable; retry later") from exc
        raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the route returns.

    The commit is what makes an accepted item durable, so it happens before the
    response is sent.
    """
    async with (
        database_outage_is_503(),
        request.app.state.sessions() as session,
        session.begin(),
    ):
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


def get_keys(request: Request) -> KeyVerifier:
    keys: KeyVerifier = request.app.state.keys
    return keys


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
KeysDep = Annotated[KeyVerifier, Depends(get_keys)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


async def responses_writer(keys: KeysDep, authorization: AuthorizationHeader = None) -> Principal:
    """The caller, who must hold a key with `responses:write`."""
    async with database_outage_is_503():
        return await keys.authenticate(authorization, "responses:write")


ResponsesWriter = Annotated[Principal, Depends(responses_writer)]
