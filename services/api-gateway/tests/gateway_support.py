"""Helpers of the gateway tests: a stand-in for scoring, servers in threads, workspaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ADMIN_TOKEN = "test-admin-token"
INTERNAL_TOKEN = "test-internal-token"


@dataclass
class FakeScoring:
    """What the stand-in for scoring's internal API was asked."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


def fake_scoring_app(seen: FakeScoring) -> FastAPI:
    """Scoring's internal metrics API as the gateway sees it: checks the token, echoes a report."""
    app = FastAPI()

    @app.get("/internal/v1/metrics")
    async def metrics(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        authorization = request.headers.get("authorization")
        seen.requests.append({"params": params, "authorization": authorization})
        if authorization != f"Bearer {INTERNAL_TOKEN}":
            return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)
        if params.get("touchpoint") == "unknown_touchpoint":
            problem = {
                "type": "about:blank",
                "title": "Unprocessable content",
                "status": 422,
                "detail": "touchpoint: not configured",
                "errors": [{"location": "query.touchpoint", "message": "not configured"}],
            }
            return JSONResponse(problem, status_code=422, media_type="application/problem+json")
        report = {
            "workspace_id": params["workspace_id"],
            "touchpoint": params.get("touchpoint"),
            "from": params.get("from", "2026-11-01T00:00:00+00:00"),
            "to": params.get("to", "2026-11-23T00:00:00+00:00"),
            "timezone": "UTC",
            "granularity": params.get("granularity", "total"),
            "min_n": 5,
            "values": [{"metric": "csat", "n": 12, "score": 75.0, "invitations_sent": 20}],
        }
        return JSONResponse(report)

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)


@dataclass(frozen=True)
class NewWorkspace:
    """A workspace created through the API, with the admin key it came with."""

    id: str
    admin_key: str

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_key)


async def issue_key(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, *scopes: str, name: str = "test"
) -> dict[str, Any]:
    """Issue a key in the workspace and return the gateway's answer (with `key`)."""
    issued = await gateway.post(
        "/v1/api-keys", json={"name": name, "scopes": list(scopes)}, headers=workspace.admin
    )
    assert issued.status_code == 201, issued.text
    return dict(issued.json())
