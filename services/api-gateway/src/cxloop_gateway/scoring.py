"""The gateway's client of another service's internal API (scoring, dispatch), and how its
failures reach callers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
import structlog
from cxloop_shared.errors import CxloopError, ServiceUnavailable
from cxloop_shared.readmodels import MetricsReport
from pydantic import BaseModel, SecretStr, ValidationError

log = structlog.get_logger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


class UpstreamProblem(CxloopError):
    """A problem answered by another cxloop service, passed on with its own status."""

    def __init__(self, detail: str, *, status: int, title: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.status = status  # type: ignore[misc]
        self.title = title  # type: ignore[misc]


def bad_gateway(detail: str) -> UpstreamProblem:
    """Scoring answered, but not something the gateway can pass on."""
    return UpstreamProblem(detail, status=502, title="Bad gateway")


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else 5


def upstream_error(response: httpx.Response, *, service: str = "scoring") -> CxloopError:
    """The error a caller sees for `service`'s error response.

    The caller's own mistakes (4xx) pass through as the service phrased them; a service
    refusing the gateway's internal token is the gateway's misconfiguration, not the
    caller's, so it becomes a 502 like any other upstream failure.
    """
    status = response.status_code
    if status == 503:
        return ServiceUnavailable(
            f"{service} is not ready; retry shortly", retry_after=_retry_after(response)
        )
    if status in (401, 403):
        return bad_gateway(f"{service} refused the gateway's internal token ({status})")
    if status >= 500:
        return bad_gateway(f"{service} failed ({status})")
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return UpstreamProblem(response.text[:500], status=status, title=response.reason_phrase)
    extra = {k: v for k, v in problem.items() if k not in {"type", "title", "status", "detail"}}
    return UpstreamProblem(
        str(problem.get("detail", "")),
        status=status,
        title=str(problem.get("title", response.reason_phrase)),
        **extra,
    )


class ScoringClient:
    """Calls one service's internal API (scoring by default) for one workspace at a time."""

    def __init__(
        self, http: httpx.AsyncClient, *, internal_token: SecretStr, service: str = "scoring"
    ) -> None:
        self._http = http
        self._service = service
        self._headers = {"Authorization": f"Bearer {internal_token.get_secret_value()}"}

    async def _request(
        self, method: str, path: str, *, params: Mapping[str, str], body: Any = None
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, path, params=params, json=body, headers=self._headers
            )
        except httpx.TransportError as exc:
            log.warning("upstream.unreachable", service=self._service, path=path, error=repr(exc))
            raise ServiceUnavailable(f"{self._service} is unreachable; retry shortly") from None
        if response.is_error:
            raise upstream_error(response, service=self._service)
        return response

    async def read(
        self, model: type[ModelT], path: str, *, workspace_id: str, query: Mapping[str, str]
    ) -> ModelT:
        """GET the service's internal `path` for one workspace, answered as a `model`.

        `query` holds only the caller's parameters; the workspace always comes from the
        caller's key, never from the request, so no caller reads another workspace.
        """
        return await self.call("GET", model, path, workspace_id=workspace_id, query=query)

    async def call(
        self,
        method: str,
        model: type[ModelT],
        path: str,
        *,
        workspace_id: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> ModelT:
        """`method` the service's internal `path` for one workspace (JSON `body`), as a `model`."""
        params = {**(query or {}), "workspace_id": workspace_id}
        response = await self._request(method, path, params=params, body=body)
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            log.error("upstream.bad_answer", service=self._service, path=path, model=model.__name__)
            raise bad_gateway(f"{self._service} answered {path} with an invalid document") from None

    async def open_stream(
        self, path: str, *, workspace_id: str, query: Mapping[str, str]
    ) -> httpx.Response:
        """GET the service's internal `path` for one workspace with its body not yet read.

        Errors are raised as `call` raises them; on success the caller streams the body
        and must `aclose()` the response.
        """
        params = {**query, "workspace_id": workspace_id}
        request = self._http.build_request("GET", path, params=params, headers=self._headers)
        try:
            response = await self._http.send(request, stream=True)
            if response.is_error:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except httpx.TransportError as exc:
            log.warning("upstream.unreachable", service=self._service, path=path, error=repr(exc))
            raise ServiceUnavailable(f"{self._service} is unreachable; retry shortly") from None
        if response.is_error:
            raise upstream_error(response, service=self._service)
        return response

    async def metrics(self, *, workspace_id: str, query: Mapping[str, str]) -> MetricsReport:
        """The workspace's metrics for `query` (touchpoint, from, to, granularity, group_by)."""
        return await self.read(
            MetricsReport, "/internal/v1/metrics", workspace_id=workspace_id, query=query
        )
