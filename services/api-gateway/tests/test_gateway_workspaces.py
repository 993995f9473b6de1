from __future__ import annotations

import httpx
from gateway_support import ADMIN, NewWorkspace, bearer


async def test_the_admin_token_creates_a_workspace_with_a_first_admin_key(
    gateway: httpx.AsyncClient, workspace_id: str
) -> None:
    body = {"id": workspace_id, "name": "Acme", "timezone": "Asia/Kolkata"}
    created = await gateway.post("/v1/workspaces", json=body, headers=ADMIN)

    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["workspace"]["id"] == workspace_id
    assert answer["workspace"]["timezone"] == "Asia/Kolkata"
    assert answer["admin_key"]["scopes"] == ["admin"]
    key = answer["admin_key"]["key"]
    assert key.startswith(answer["admin_key"]["prefix"])
    current = await gateway.get("/v1/workspaces/current", headers=bearer(key))
    assert current.status_code == 200
    assert current.json()["name"] == "Acme"


async def test_creating_a_workspace_needs_the_admin_token(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, workspace_id: str
) -> None:
    body = {"id": f"{workspace_id}-2"}
    anonymous = await gateway.post("/v1/workspaces", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    wrong = await gateway.post("/v1/workspaces", json=body, headers=bearer("not-the-token"))
    assert wrong.status_code == 401
    # Even a workspace's admin key is not above its workspace.
    as_key = await gateway.post("/v1/workspaces", json=body, headers=workspace.admin)
    assert as_key.status_code == 401


async def test_an_existing_workspace_is_a_conflict(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    again = await gateway.post("/v1/workspaces", json={"id": workspace.id}, headers=ADMIN)
    assert again.status_code == 409
    assert workspace.id in again.json()["detail"]


async def test_a_workspace_without_an_admin_key(
    gateway: httpx.AsyncClient, workspace_id: str
) -> None:
    body = {"id": workspace_id, "issue_admin_key": False}
    created = await gateway.post("/v1/workspaces", json=body, headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["admin_key"] is None


async def test_invalid_workspaces_are_refused_naming_the_field(
    gateway: httpx.AsyncClient, workspace_id: str
) -> None:
    bad_zone = await gateway.post(
        "/v1/workspaces", json={"id": workspace_id, "timezone": "Mars/Olympus"}, headers=ADMIN
    )
    assert bad_zone.status_code == 422
    assert "timezone" in bad_zone.json()["detail"]
    bad_id = await gateway.post("/v1/workspaces", json={"id": "a:b"}, headers=ADMIN)
    assert bad_id.status_code == 422
    assert "body.id" in bad_id.json()["detail"]


async def test_the_admin_token_acts_on_the_workspace_it_names(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    named = await gateway.get(
        "/v1/workspaces/current", headers={**ADMIN, "X-Cxloop-Workspace": workspace.id}
    )
    assert named.status_code == 200
    assert named.json()["id"] == workspace.id
    unnamed = await gateway.get("/v1/workspaces/current", headers=ADMIN)
    assert unnamed.status_code == 400
    assert "X-Cxloop-Workspace" in unnamed.json()["detail"]
    missing = await gateway.get(
        "/v1/workspaces/current", headers={**ADMIN, "X-Cxloop-Workspace": "no-such-workspace"}
    )
    assert missing.status_code == 404


async def test_probes(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/healthz")).json()["service"] == "gateway"
    assert (await gateway.get("/readyz")).status_code == 200
