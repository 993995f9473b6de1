"""FastAPI dependencies, as Annotated aliases the endpoints declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from cxloop_shared.apikeys import Principal, Scope
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.auth import WORKSPACE_HEADER, Authenticator
from cxloop_gateway.customers.erasures import ErasurePublisher
from cxloop_gateway.scoring import ScoringClient
from cxloop_gateway.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and transaction per request, committed when the endpoint returns."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings  # type: ignore[no-any-return]


def get_scoring(request: Request) -> ScoringClient:
    """The client of scoring's internal read API."""
    return request.app.state.scoring  # type: ignore[no-any-return]


def get_dispatch(request: Request) -> ScoringClient:
    """The client of dispatch's internal read API (customers, event traces)."""
    return request.app.state.dispatch  # type: ignore[no-any-return]


def get_erasures(request: Request) -> ErasurePublisher:
    """Publishes erasure requests on `cx.customers`."""
    return request.app.state.erasures  # type: ignore[no-any-return]


def get_authenticator(request: Request) -> Authenticator:
    """Resolves bearer tokens to principals."""
    return request.app.state.authenticator  # type: ignore[no-any-return]


# scope="function": commit before the response leaves, so no 2xx is sent for a change
# that then fails to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ScoringDep = Annotated[ScoringClient, Depends(get_scoring)]
DispatchDep = Annotated[ScoringClient, Depends(get_dispatch)]
ErasuresDep = Annotated[ErasurePublisher, Depends(get_erasures)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
BearerDep = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(HTTPBearer(auto_error=False, description="A workspace API key or the admin token.")),
]
WorkspaceHeader = Annotated[
    str | None,
    Header(alias=WORKSPACE_HEADER, description="With the admin token: the workspace to act on."),
]


class RequireScope:
    """The dependency resolving the caller, who must hold `scope` (None: any valid key).

    A class rather than a closure so the OpenAPI document (and the security tests) can
    read off each route which scope it needs.
    """

    def __init__(self, scope: Scope | None) -> None:
        self.scope = scope

    async def __call__(
        self,
        authenticator: AuthenticatorDep,
        session: SessionDep,
        bearer: BearerDep,
        workspace: WorkspaceHeader = None,
    ) -> Principal:
        return await authenticator.authenticate(
            session,
            token=bearer.credentials if bearer else None,
            workspace_id=workspace,
            scope=self.scope,
        )


def principal(scope: Scope | None) -> Any:
    """A dependency resolving the caller, who must hold `scope` (None: any valid key)."""
    return Depends(RequireScope(scope))


async def require_admin_token(authenticator: AuthenticatorDep, bearer: BearerDep) -> None:
    """Only the bootstrap admin token passes: creating workspaces is above any one workspace."""
    authenticator.require_admin_token(bearer.credentials if bearer else None)


Caller = Annotated[Principal, principal(None)]
Admin = Annotated[Principal, principal("admin")]
ConfigWriter = Annotated[Principal, principal("config:write")]
MetricsReader = Annotated[Principal, principal("metrics:read")]
CustomersReader = Annotated[Principal, principal("customers:read")]
CustomersWriter = Annotated[Principal, principal("customers:write")]
AdminTokenDep = Annotated[None, Depends(require_admin_token)]

# Every list endpoint takes its page size as `limit: PageLimit = <default>`; a larger one is
# refused with 422 rather than silently capped, so a client never mistakes a short page
# for the end of the list.
MAX_PAGE_SIZE = 200
PageLimit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, at most {MAX_PAGE_SIZE}.")
]
