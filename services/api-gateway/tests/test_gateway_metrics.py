from __future__ import annotations

import httpx
from cxloop_devstack.ports import free_port
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from gateway_support import INTERNAL_TOKEN, FakeScoring, NewWorkspace, bearer, issue_key


async def test_metrics_come_from_scoring_for_the_callers_workspace(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, fake_scoring: FakeScoring
) -> None:
    reader = bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])
    params = {
        "touchpoint": "checkout",
        "from": "2026-11-01T00:00:00+01:00",
        "to": "2026-11-23T00:00:00Z",
        "granularity": "day",
        "workspace_id": "someone-else",
    }

    answer = await gateway.get("/v1/metrics", params=params, headers=reader)

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["workspace_id"] == workspace.id
    assert report["from"] == "2026-11-01T00:00:00+01:00"
    assert report["values"][0]["score"] == 75.0
    asked = fake_scoring.requests[-1]
    assert asked["authorization"] == f"Bearer {INTERNAL_TOKEN}"
    assert asked["params"]["workspace_id"] == workspace.id, "never the caller's own choice"
    assert asked["params"]["touchpoint"] == "checkout"
    assert asked["params"]["granularity"] == "day"


async def test_scorings_problems_pass_through(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    answer = await gateway.get(
        "/v1/metrics", params={"touchpoint": "unknown_touchpoint"}, headers=workspace.admin
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == "touchpoint: not configured"
    assert answer.json()["errors"][0]["location"] == "query.touchpoint"


async def test_metrics_need_the_metrics_scope(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    writer = bearer((await issue_key(gateway, workspace, "events:write"))["key"])
    answer = await gateway.get("/v1/metrics", headers=writer)
    assert answer.status_code == 403
    assert "'metrics:read'" in answer.json()["detail"]


async def test_an_unreachable_scoring_is_a_503_with_retry_after(
    settings: Settings, gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    cut_off = create_app(settings.model_copy(update={"scoring_url": nowhere}))
    transport = httpx.ASGITransport(app=cut_off)
    async with (
        cut_off.router.lifespan_context(cut_off),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        answer = await client.get("/v1/metrics", headers=workspace.admin)
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert answer.headers["content-type"] == "application/problem+json"
