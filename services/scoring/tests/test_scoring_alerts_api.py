"""The internal alerts API: listing with state and cursor, acknowledging and resolving,
one workspace never reaching another's alerts."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from scoring_support import BEARER, DETRACTORS, endpoint, response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def alerts(api: httpx.AsyncClient, workspace_id: str, **params: Any) -> dict[str, Any]:
    answer = await api.get(
        "/internal/v1/alerts", params={"workspace_id": workspace_id, **params}, headers=BEARER
    )
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


async def change(
    api: httpx.AsyncClient, alert_id: str, action: str, workspace_id: str, **body: Any
) -> httpx.Response:
    return await api.post(
        f"/internal/v1/alerts/{alert_id}/{action}",
        params={"workspace_id": workspace_id},
        json=body or None,
        headers=BEARER,
    )


@pytest.fixture
async def raised(handle: Any, configure: Any, workspace_id: str) -> None:
    """Five detractor alerts in the workspace (r0 oldest … r4 newest)."""
    await configure(workspace_id, alerts=[{"when": DETRACTORS}])
    for i in range(5):
        await handle([response(workspace_id, f"r{i}", i, comment=f"comment {i}")])


async def test_alerts_are_listed_newest_first_with_the_answer_and_context(
    api: httpx.AsyncClient, raised: Any, workspace_id: str
) -> None:
    page = await alerts(api, workspace_id)
    assert [a["response_id"] for a in page["items"]] == ["r4", "r3", "r2", "r1", "r0"]
    assert page["next_cursor"] is None
    newest = page["items"][0]
    assert newest["state"] == "open"
    assert (newest["score"], newest["comment"], newest["metric"]) == (4, "comment 4", "nps")
    assert (newest["customer_id"], newest["touchpoint"], newest["rule"]) == (
        "c-r4",
        "checkout",
        DETRACTORS,
    )
    assert newest["context"] == {}
    assert newest["acknowledged_at"] is None


async def test_pages_follow_the_cursor_and_the_page_size_is_capped(
    api: httpx.AsyncClient, raised: Any, workspace_id: str
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = await alerts(api, workspace_id, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [a["response_id"] for a in page["items"]]
        assert len(page["items"]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    assert len((await alerts(api, workspace_id, limit=10_000))["items"]) == 5
    bad = await api.get(
        "/internal/v1/alerts",
        params={"workspace_id": workspace_id, "cursor": "bm90IGEgY3Vyc29y"},
        headers=BEARER,
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


async def test_an_alert_is_acknowledged_then_resolved(
    api: httpx.AsyncClient, raised: Any, workspace_id: str
) -> None:
    alert_id = (await alerts(api, workspace_id))["items"][0]["alert_id"]
    acknowledged = await change(api, alert_id, "acknowledge", workspace_id, by="kim@acme.test")
    assert acknowledged.status_code == 200, acknowledged.text
    body = acknowledged.json()
    assert (body["state"], body["acknowledged_by"]) == ("acknowledged", "kim@acme.test")
    assert body["acknowledged_at"] is not None

    again = await change(api, alert_id, "acknowledge", workspace_id, by="lee@acme.test")
    assert again.status_code == 200
    assert again.json()["acknowledged_by"] == "kim@acme.test", "repeating changes nothing"

    resolved = await change(api, alert_id, "resolve", workspace_id, note="called back, refunded")
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["state"], body["note"]) == ("resolved", "called back, refunded")
    assert body["resolved_at"] >= body["acknowledged_at"]

    late = await change(api, alert_id, "acknowledge", workspace_id)
    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"
    assert (await change(api, alert_id, "resolve", workspace_id)).status_code == 200

    assert [
        a["alert_id"] for a in (await alerts(api, workspace_id, state="resolved"))["items"]
    ] == [alert_id]
    assert len((await alerts(api, workspace_id, state="open"))["items"]) == 4
    assert (await alerts(api, workspace_id, state="acknowledged"))["items"] == []


async def test_an_open_alert_can_be_resolved_directly(
    api: httpx.AsyncClient, raised: Any, workspace_id: str
) -> None:
    alert_id = (await alerts(api, workspace_id))["items"][-1]["alert_id"]
    resolved = await change(api, alert_id, "resolve", workspace_id)
    assert resolved.status_code == 200
    assert (resolved.json()["state"], resolved.json()["acknowledged_at"]) == ("resolved", None)


async def test_another_workspaces_alert_is_not_found(
    api: httpx.AsyncClient, raised: Any, workspace_id: str
) -> None:
    alert_id = (await alerts(api, workspace_id))["items"][0]["alert_id"]
    other = f"{workspace_id}-other"
    assert (await alerts(api, other))["items"] == []
    for action in ("acknowledge", "resolve"):
        answer = await change(api, alert_id, action, other)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
    assert (await change(api, str(uuid.uuid4()), "resolve", workspace_id)).status_code == 404
    assert (await alerts(api, workspace_id))["items"][0]["state"] == "open"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/internal/v1/alerts"),
        ("POST", f"/internal/v1/alerts/{uuid.UUID(int=1)}/acknowledge"),
        ("POST", f"/internal/v1/alerts/{uuid.UUID(int=1)}/resolve"),
        ("GET", "/internal/v1/webhook-deliveries"),
    ],
)
async def test_only_the_internal_caller_gets_in(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    answer = await api.request(method, path, params={"workspace_id": "x"})
    assert answer.status_code == 401


async def test_resolving_tells_the_endpoints_that_subscribe(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str, engine: AsyncEngine
) -> None:
    await configure(
        workspace_id,
        alerts=[{"when": DETRACTORS}],
        endpoints={
            "crm": endpoint("https://crm.test/hooks", "alert.acknowledged", "alert.resolved")
        },
    )
    await handle([response(workspace_id, "r1", 0)])
    alert_id = (await alerts(api, workspace_id))["items"][0]["alert_id"]
    await change(api, alert_id, "acknowledge", workspace_id, by="kim")
    await change(api, alert_id, "acknowledge", workspace_id, by="kim")
    await change(api, alert_id, "resolve", workspace_id, by="kim", note="done")
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select event_type, body from scoring.webhook_deliveries"
                " where workspace_id = :w order by id"
            ),
            {"w": workspace_id},
        )
        bodies = [(row.event_type, json.loads(row.body)) for row in rows]
    assert [event_type for event_type, _ in bodies] == ["alert.acknowledged", "alert.resolved"]
    resolved = bodies[1][1]
    assert resolved["type"] == "alert.resolved"
    assert resolved["data"]["alert_id"] == alert_id
    assert (resolved["data"]["state"], resolved["data"]["note"]) == ("resolved", "done")
    assert resolved["timestamp"].endswith("Z")
