from __future__ import annotations

import httpx
from fastapi import FastAPI
from gateway_support import ADMIN, NewWorkspace, bearer, issue_key
from sqlalchemy import text


async def test_a_key_is_issued_listed_and_revoked(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    issued = await issue_key(gateway, workspace, "metrics:read", "events:write", name="dashboard")
    assert issued["scopes"] == ["events:write", "metrics:read"]
    key = issued["key"]
    assert (await gateway.get("/v1/workspaces/current", headers=bearer(key))).status_code == 200

    listed = await gateway.get("/v1/api-keys", headers=workspace.admin)
    assert listed.status_code == 200
    items = {item["id"]: item for item in listed.json()["items"]}
    shown = items[issued["id"]]
    assert set(shown) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert shown["name"] == "dashboard"
    assert shown["last_used_at"] is not None, "the key was just used"
    assert shown["revoked_at"] is None
    assert key not in listed.text

    revoked = await gateway.delete(f"/v1/api-keys/{issued['id']}", headers=workspace.admin)
    assert revoked.status_code == 204
    refused = await gateway.get("/v1/workspaces/current", headers=bearer(key))
    assert refused.status_code == 401, "revocation is immediate on the gateway"
    after = await gateway.get(f"/v1/api-keys/{issued['id']}", headers=workspace.admin)
    assert after.json()["revoked_at"] is not None
    again = await gateway.delete(f"/v1/api-keys/{issued['id']}", headers=workspace.admin)
    assert again.status_code == 204, "revoking twice is harmless"


async def test_unknown_keys_are_unauthorized(gateway: httpx.AsyncClient) -> None:
    for token in ("garbage", "cxk_00000000_not-a-real-key-at-all", "cxk_"):
        answer = await gateway.get("/v1/workspaces/current", headers=bearer(token))
        assert answer.status_code == 401, token
    assert (await gateway.get("/v1/workspaces/current")).status_code == 401


async def test_a_missing_scope_is_forbidden_naming_the_scope(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    reader = bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])

    keys = await gateway.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=reader
    )
    assert keys.status_code == 403
    assert keys.headers["content-type"] == "application/problem+json"
    assert "'admin'" in keys.json()["detail"]
    config = await gateway.get("/v1/config", headers=reader)
    assert config.status_code == 403
    assert "'config:write'" in config.json()["detail"]


async def test_unknown_scopes_are_refused(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    body = {"name": "x", "scopes": ["root"]}
    answer = await gateway.post("/v1/api-keys", json=body, headers=workspace.admin)
    assert answer.status_code == 422
    assert "scopes" in answer.json()["detail"]


async def test_another_workspaces_keys_are_not_found(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, workspace_id: str
) -> None:
    created = await gateway.post("/v1/workspaces", json={"id": f"{workspace_id}-b"}, headers=ADMIN)
    other = bearer(created.json()["admin_key"]["key"])
    mine = await issue_key(gateway, workspace, "metrics:read")

    assert (await gateway.get(f"/v1/api-keys/{mine['id']}", headers=other)).status_code == 404
    assert (await gateway.delete(f"/v1/api-keys/{mine['id']}", headers=other)).status_code == 404
    listed = await gateway.get("/v1/api-keys", headers=other)
    assert mine["id"] not in listed.text
    reaching = await gateway.get(
        "/v1/workspaces/current", headers={**other, "X-Cxloop-Workspace": workspace.id}
    )
    assert reaching.status_code == 404
    still = await gateway.get("/v1/workspaces/current", headers=bearer(mine["key"]))
    assert still.status_code == 200


async def test_keys_are_listed_in_pages(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    issued = [(await issue_key(gateway, workspace, "metrics:read"))["id"] for _ in range(3)]

    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = (await gateway.get("/v1/api-keys", params=params, headers=workspace.admin)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen[1:] == issued, "the workspace's first admin key, then these, oldest first"
    too_big = await gateway.get("/v1/api-keys", params={"limit": 5000}, headers=workspace.admin)
    assert too_big.status_code == 422


async def test_no_plaintext_key_is_stored_anywhere(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, workspace: NewWorkspace
) -> None:
    plaintexts = [workspace.admin_key, (await issue_key(gateway, workspace, "admin"))["key"]]

    async with gateway_app.state.sessions() as session:
        columns = (
            await session.execute(
                text(
                    "select table_name, column_name from information_schema.columns "
                    "where table_schema = 'gateway' "
                    "and data_type in ('text', 'character varying', 'ARRAY', 'jsonb', 'json')"
                )
            )
        ).all()
        assert len(columns) >= 8
        for table, column in columns:
            for plaintext in plaintexts:
                found = await session.scalar(
                    text(
                        f'select count(*) from gateway."{table}" '  # noqa: S608 (catalog names)
                        f'where strpos("{column}"::text, :plaintext) > 0'
                    ),
                    {"plaintext": plaintext},
                )
                assert found == 0, f"gateway.{table}.{column} holds a plaintext key"
