"""GET /v1/responses and /v1/responses/export through the gateway, answered by scoring's
real routes over the suite's Postgres: filters, keyset pages under concurrent inserts,
workspaces kept apart, scopes, and exports streamed end to end."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cxloop_gateway.settings import Settings
from cxloop_scoring.response_endpoints import EXPORT_BATCH
from cxloop_shared.answers import RESPONSE_COLUMNS
from gateway_reads_support import T0, ReadsStack, Record, answer, reads_stack, scoring_recorder
from gateway_support import NewWorkspace, bearer, issue_key

ITEM_FIELDS = {
    "response_id",
    "revision",
    "touchpoint",
    "survey",
    "metric",
    "score",
    "items",
    "comment",
    "channel",
    "customer_id",
    "invitation_id",
    "answered_at",
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


@pytest.fixture
async def reader(gateway: httpx.AsyncClient, workspace: NewWorkspace) -> dict[str, str]:
    return bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])


async def listed(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answered = await api.get("/v1/responses", params=params, headers=headers)
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


async def ids(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    return [item["response_id"] for item in (await listed(api, headers, **params))["items"]]


async def test_a_page_of_answers_in_the_dashboards_shape(
    api: httpx.AsyncClient, record: Record, workspace: NewWorkspace, reader: dict[str, str]
) -> None:
    await record(
        answer(workspace.id, "r1", 9, comment="quick", answered_at=T0),
        answer(workspace.id, "r2", 4, answered_at=T0 + timedelta(minutes=1)),
    )
    body = await listed(api, reader, limit=20)
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    assert [item["response_id"] for item in body["items"]] == ["r2", "r1"]
    assert set(body["items"][1]) == ITEM_FIELDS
    assert body["items"][1] | {"invitation_id": None} == {
        "response_id": "r1",
        "revision": 1,
        "touchpoint": "checkout",
        "survey": None,
        "metric": "nps",
        "score": 9,
        "items": None,
        "comment": "quick",
        "channel": "web",
        "customer_id": "c-r1",
        "invitation_id": None,
        "answered_at": "2026-11-23T07:00:00Z",
    }


async def test_pages_walk_every_answer_once_while_newer_ones_arrive(
    api: httpx.AsyncClient, record: Record, workspace: NewWorkspace, reader: dict[str, str]
) -> None:
    await record(
        *(
            answer(workspace.id, f"r{i:02}", 8, answered_at=T0 + timedelta(minutes=i // 3))
            for i in range(14)
        )
    )
    seen: list[str] = []
    cursor: str | None = None
    arrived = 0
    while True:
        body = await listed(api, reader, limit=4, **({"cursor": cursor} if cursor else {}))
        seen += [item["response_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        arrived += 1
        await record(answer(workspace.id, f"late{arrived}", 2, answered_at=T0 + timedelta(days=1)))
    assert seen == [f"r{i:02}" for i in reversed(range(14))], "each once, newest first"
    assert arrived == 3
    assert (await ids(api, reader))[:3] == ["late3", "late2", "late1"]


async def test_filters_narrow_the_answers(
    api: httpx.AsyncClient, record: Record, workspace: NewWorkspace, reader: dict[str, str]
) -> None:
    await record(
        answer(workspace.id, "a", 10, comment="great, thanks", answered_at=T0),
        answer(workspace.id, "b", 1, channel="email", answered_at=T0 + timedelta(hours=1)),
        answer(workspace.id, "c", 5, metric="csat", touchpoint="ticket_closed", customer_id="c-9"),
        answer(workspace.id, "d", 6, comment="meh", answered_at=T0 + timedelta(days=3)),
    )
    assert await ids(api, reader, touchpoint="ticket_closed") == ["c"]
    assert await ids(api, reader, metric="nps", score_max=6) == ["d", "b"]
    assert await ids(api, reader, channel="email") == ["b"]
    assert await ids(api, reader, customer_id="c-9") == ["c"]
    assert await ids(api, reader, score_min=5, score_max=6) == ["d", "c"]
    assert await ids(api, reader, has_comment="true") == ["d", "a"]
    window = {"from": "2026-11-23T07:30:00+00:00", "to": "2026-11-25T00:00:00Z"}
    assert await ids(api, reader, **window) == ["b"]


async def test_another_workspaces_answers_are_invisible_whatever_is_asked(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    record: Record,
    workspace: NewWorkspace,
    reader: dict[str, str],
) -> None:
    other = f"{workspace.id}-other"
    await record(answer(workspace.id, "mine", 9), answer(other, "theirs", 0))
    assert await ids(api, reader, workspace_id=other) == ["mine"]
    exported = await api.get(
        "/v1/responses/export", params={"format": "ndjson", "workspace_id": other}, headers=reader
    )
    assert [json.loads(line)["response_id"] for line in exported.text.splitlines()] == ["mine"]


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"limit": 201}, 422, "query.limit"),
        ({"score_min": 9, "score_max": 2}, 422, "query.score_max"),
        ({"from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"}, 422, "query.to"),
        ({"has_comment": "maybe"}, 422, "query.has_comment"),
        ({"cursor": "dGFtcGVyZWQ"}, 400, "cursor"),
        ({"cursor": "eyJhIjogMX0"}, 400, "cursor"),
    ],
)
async def test_bad_parameters_are_problems_never_500s(
    api: httpx.AsyncClient,
    reader: dict[str, str],
    params: dict[str, Any],
    status: int,
    named: str,
) -> None:
    answered = await api.get("/v1/responses", params=params, headers=reader)
    assert answered.status_code == status, answered.text
    assert answered.headers["content-type"] == "application/problem+json"
    assert answered.json()["detail"].startswith(named)


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/responses/export"])
async def test_answers_need_the_metrics_scope(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient, workspace: NewWorkspace, path: str
) -> None:
    writer = bearer((await issue_key(gateway, workspace, "events:write"))["key"])
    answered = await api.get(path, headers=writer)
    assert answered.status_code == 403
    assert "'metrics:read'" in answered.json()["detail"]
    assert (await api.get(path)).status_code == 401


async def test_the_csv_export_streams_every_answer_in_order(
    api: httpx.AsyncClient, record: Record, workspace: NewWorkspace, reader: dict[str, str]
) -> None:
    count = EXPORT_BATCH + 50  # more than two API pages and more than one database batch
    tricky = 'said "no", twice,\nthen =1+1'
    await record(
        *(
            answer(
                workspace.id,
                f"r{i:04}",
                i % 11,
                answered_at=T0 + timedelta(seconds=i),
                comment=tricky if i == 7 else None,
            )
            for i in range(count)
        )
    )
    await record(answer(workspace.id, "+r", 3, comment="@SUM(A1)", answered_at=T0 - timedelta(1)))

    async with api.stream(
        "GET", "/v1/responses/export", params={"format": "csv"}, headers=reader
    ) as exported:
        assert exported.status_code == 200
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = exported.headers["content-disposition"]
        assert disposition.startswith(f'attachment; filename="responses-{workspace.id}-')
        assert disposition.endswith('.csv"')
        assert "content-length" not in exported.headers, "streamed, not buffered"
        text = "".join([chunk async for chunk in exported.aiter_text()])

    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(RESPONSE_COLUMNS)
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["response_id"] for r in records] == [
        *(f"r{i:04}" for i in reversed(range(count))),
        "'+r",
    ]
    seventh = records[count - 1 - 7]
    assert (seventh["response_id"], seventh["comment"], seventh["score"]) == ("r0007", tricky, "7")
    assert records[-1]["comment"] == "'@SUM(A1)"


async def test_the_ndjson_export_takes_the_filters(
    api: httpx.AsyncClient, record: Record, workspace: NewWorkspace, reader: dict[str, str]
) -> None:
    await record(
        answer(workspace.id, "low", 1, comment="bad\nvery", answered_at=T0),
        answer(workspace.id, "high", 10, answered_at=T0),
    )
    exported = await api.get(
        "/v1/responses/export", params={"format": "ndjson", "score_max": 6}, headers=reader
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/x-ndjson"
    assert exported.headers["content-disposition"].endswith('.ndjson"')
    documents = [json.loads(line) for line in exported.text.splitlines()]
    assert [(d["response_id"], d["comment"]) for d in documents] == [("low", "bad\nvery")]
    assert set(documents[0]) == ITEM_FIELDS


async def test_export_refusals_come_before_the_body(
    api: httpx.AsyncClient, reader: dict[str, str]
) -> None:
    wrong = await api.get("/v1/responses/export", params={"format": "xlsx"}, headers=reader)
    assert wrong.status_code == 422
    assert wrong.json()["detail"].startswith("query.format")
    inverted = await api.get(
        "/v1/responses/export", params={"score_min": 8, "score_max": 1}, headers=reader
    )
    assert inverted.status_code == 422
    assert inverted.headers["content-type"] == "application/problem+json"
