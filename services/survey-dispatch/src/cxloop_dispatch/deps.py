"""FastAPI dependencies of dispatch's routes."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from cxloop_shared.errors import Unauthorized
from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_dispatch.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session (and transaction) per request."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


def require_internal_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Let through only callers that present the service-to-service token."""
    settings: Settings = request.app.state.settings
    expected = f"Bearer {settings.internal_token.get_secret_value()}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
        error = Unauthorized("this internal API needs `Authorization: Bearer <internal token>`")
        error.headers["WWW-Authenticate"] = "Bearer"
        raise error


SessionDep = Annotated[AsyncSession, Depends(get_session)]
InternalCaller = Depends(require_internal_caller)
