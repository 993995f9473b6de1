"""FastAPI dependencies of scoring's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from cxloop_shared.config import ConfigCache
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session (and transaction) per request."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


def get_configs(request: Request) -> ConfigCache:
    """The workspace-configuration cache."""
    config_cache: ConfigCache = request.app.state.configs
    return config_cache


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ConfigsDep = Annotated[ConfigCache, Depends(get_configs)]
