"""GET /v1/alerts and acknowledging and resolving through the gateway, answered by
scoring's real routes over alerts its batch handler raised."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cxloop_gateway.settings import Settings
from gateway_reads_support import T0, ReadsStack, Record, answer, reads_stack, scoring_recorder
from gateway_support import NewWorkspace, bearer, issue_key

DETRACTORS = "nps <= 6"
DASHBOARD_FIELDS = {
    "alert_id",
    "rule",
    "touchpoint",
    "metric",
    "score",
    "comment",
    "customer_id",
    "state",
    "raised_at",
    "context",
}


@pytest.fixture(scope="module")
def stack(settings: Settings, kafka_bootstrap: str) -> Iterator[ReadsStack]:
    with reads_stack(settings, kafka_bootstrap=kafka_bootstrap) as served:
        yield served


@pytest.fixture(scope="module")
async def record(database_url: str) -> AsyncIterator[Record]:
    async with scoring_recorder(database_url) as recorder:
        yield recorder


@pytest.fixture
async def api(stack: ReadsStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client


async def with_alerts(
    gateway: httpx.AsyncClient, record: Record, workspace: NewWorkspace, scores: list[int]
) -> None:
    """Configure a detractor rule, then record one answer per score (a0 oldest)."""
    configured = await gateway.put(
        "/v1/config",
        json={"workspace": workspace.id, "alerts": [{"when": DETRACTORS}]},
        headers=workspace.admin,
    )
    assert configured.status_code == 200, configured.text
    # One batch each: an alert is raised when its answer is recorded, so a0 is the oldest.
    for i, score in enumerate(scores):
        await record(
            answer(workspace.id, f"a{i}", score, comment=f"said {i}", answered_at=T0 + timedelta(i))
        )


@pytest.fixture
async def keys(gateway: httpx.AsyncClient, workspace: NewWorkspace) -> dict[str, dict[str, str]]:
    reader = await issue_key(gateway, workspace, "metrics:read")
    handler = await issue_key(gateway, workspace, "metrics:read", "customers:write")
    return {
        "reader": bearer(reader["key"]),
        "handler": bearer(handler["key"]),
        "handler_id": {"id": handler["id"]},
    }


async def alerts(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    listed = await api.get("/v1/alerts", params=params, headers=headers)
    assert listed.status_code == 200, listed.text
    body: dict[str, Any] = listed.json()
    return body


async def test_open_alerts_in_the_dashboards_shape_newest_first_by_pages(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    record: Record,
    workspace: NewWorkspace,
    keys: dict[str, dict[str, str]],
) -> None:
    await with_alerts(gateway, record, workspace, [3, 10, 0, 6, 2])
    body = await alerts(api, keys["reader"], state="open")
    assert set(body) == {"items", "next_cursor"}
    assert [a["customer_id"] for a in body["items"]] == ["c-a4", "c-a3", "c-a2", "c-a0"]
    newest = body["items"][0]
    assert set(newest) >= DASHBOARD_FIELDS
    assert (newest["rule"], newest["touchpoint"], newest["metric"]) == (
        DETRACTORS,
        "checkout",
        "nps",
    )
    assert (newest["score"], newest["comment"], newest["state"]) == (2, "said 4", "open")
    assert newest["context"] == {}
    uuid.UUID(newest["alert_id"])

    seen: list[str] = []
    cursor = None
    while True:
        page = await alerts(api, keys["reader"], limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [a["customer_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["c-a4", "c-a3", "c-a2", "c-a0"]


async def test_acknowledge_then_resolve_and_no_way_back(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    record: Record,
    workspace: NewWorkspace,
    keys: dict[str, dict[str, str]],
) -> None:
    await with_alerts(gateway, record, workspace, [1])
    alert_id = (await alerts(api, keys["reader"]))["items"][0]["alert_id"]

    acknowledged = await api.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"by": "ana@acme.test", "note": "calling back"},
        headers=keys["handler"],
    )
    assert acknowledged.status_code == 200, acknowledged.text
    body = acknowledged.json()
    assert (body["state"], body["acknowledged_by"], body["note"]) == (
        "acknowledged",
        "ana@acme.test",
        "calling back",
    )
    assert (await alerts(api, keys["reader"], state="open"))["items"] == []
    assert len((await alerts(api, keys["reader"], state="acknowledged"))["items"]) == 1

    resolved = await api.post(f"/v1/alerts/{alert_id}/resolve", headers=keys["handler"])
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["resolved_by"] == f"api-key:{keys['handler_id']['id']}"
    assert resolved.json()["note"] == "calling back"

    again = await api.post(f"/v1/alerts/{alert_id}/resolve", headers=keys["handler"])
    assert (again.status_code, again.json()["resolved_at"]) == (200, resolved.json()["resolved_at"])
    back = await api.post(f"/v1/alerts/{alert_id}/acknowledge", headers=keys["handler"])
    assert back.status_code == 409
    assert back.headers["content-type"] == "application/problem+json"
    assert "resolved" in back.json()["detail"]


async def test_another_workspaces_alert_is_not_found(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    record: Record,
    workspace: NewWorkspace,
    keys: dict[str, dict[str, str]],
) -> None:
    await with_alerts(gateway, record, workspace, [0])
    alert_id = (await alerts(api, keys["reader"]))["items"][0]["alert_id"]
    other_id = f"{workspace.id}-2"
    created = await gateway.post(
        "/v1/workspaces",
        json={"id": other_id},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert created.status_code == 201, created.text
    outsider = NewWorkspace(other_id, created.json()["admin_key"]["key"])

    for action in ("acknowledge", "resolve"):
        refused = await api.post(f"/v1/alerts/{alert_id}/{action}", headers=outsider.admin)
        assert refused.status_code == 404, refused.text
    assert (await alerts(api, outsider.admin))["items"] == []
    assert (await alerts(api, keys["reader"]))["items"][0]["state"] == "open"


async def test_scopes_and_bad_requests(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    workspace: NewWorkspace,
    keys: dict[str, dict[str, str]],
) -> None:
    some_id = uuid.uuid4()
    reading_only = await api.post(f"/v1/alerts/{some_id}/acknowledge", headers=keys["reader"])
    assert reading_only.status_code == 403
    assert "'customers:write'" in reading_only.json()["detail"]
    writer = bearer((await issue_key(gateway, workspace, "events:write"))["key"])
    assert (await api.get("/v1/alerts", headers=writer)).status_code == 403

    cases = [
        (api.get("/v1/alerts", params={"limit": 201}, headers=keys["reader"]), 422, "query.limit"),
        (api.get("/v1/alerts", params={"state": "closed"}, headers=keys["reader"]), 422, "query"),
        (api.get("/v1/alerts", params={"cursor": "eA"}, headers=keys["reader"]), 400, "cursor"),
        (api.post("/v1/alerts/not-a-uuid/resolve", headers=keys["handler"]), 422, "path"),
        (
            api.post(f"/v1/alerts/{some_id}/resolve", json={"who": "x"}, headers=keys["handler"]),
            422,
            "body",
        ),
        (api.post(f"/v1/alerts/{some_id}/resolve", headers=keys["handler"]), 404, "no alert"),
    ]
    for request, status, named in cases:
        answered = await request
        assert answered.status_code == status, answered.text
        assert answered.headers["content-type"] == "application/problem+json"
        assert answered.json()["detail"].startswith(named), answered.json()["detail"]
