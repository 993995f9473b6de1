"""The internal answers API over answers written by the batch handler: filters, keyset
pages that survive concurrent inserts, one workspace never seeing another's answers, and
the export streamed as CSV or NDJSON."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cxloop_scoring.response_endpoints import EXPORT_BATCH, router
from cxloop_scoring.settings import Settings
from cxloop_shared.answers import RESPONSE_COLUMNS
from cxloop_shared.http import install_error_handlers
from fastapi import FastAPI
from pydantic import SecretStr
from scoring_support import BEARER, INTERNAL_TOKEN, T0, response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@pytest.fixture
async def answers_api(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    """The answers routes on a bare app (no Kafka consumer), served in-process."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings = Settings(internal_token=SecretStr(INTERNAL_TOKEN))
    app.state.sessions = sessions
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        yield client


async def page(api: httpx.AsyncClient, workspace_id: str, **params: Any) -> dict[str, Any]:
    answer = await api.get(
        "/internal/v1/responses", params={"workspace_id": workspace_id, **params}, headers=BEARER
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def ids(api: httpx.AsyncClient, workspace_id: str, **params: Any) -> list[str]:
    return [item["response_id"] for item in (await page(api, workspace_id, **params))["items"]]


def minutes(n: int) -> str:
    return (T0 + timedelta(minutes=n)).isoformat()


async def test_answers_are_listed_newest_first_at_their_latest_revision(
    answers_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    invitation_id = uuid.uuid4()
    await handle(
        [
            response(workspace_id, "r1", 9, answered_at=T0, invitation_id=invitation_id),
            response(workspace_id, "r2", 3, answered_at=T0 + timedelta(minutes=1)),
        ]
    )
    await handle(
        [
            response(
                workspace_id,
                "r1",
                2,
                revision=2,
                comment="slow",
                answered_at=T0,
                invitation_id=invitation_id,
            )
        ]
    )

    body = await page(answers_api, workspace_id)

    assert body["next_cursor"] is None
    assert [item["response_id"] for item in body["items"]] == ["r2", "r1"]
    assert body["items"][1] == {
        "response_id": "r1",
        "revision": 2,
        "touchpoint": "checkout",
        "survey": None,
        "metric": "nps",
        "score": 2,
        "items": None,
        "comment": "slow",
        "channel": "web",
        "customer_id": "c-r1",
        "invitation_id": str(invitation_id),
        "answered_at": "2026-11-23T07:00:00Z",
    }


async def test_pages_walk_every_answer_once_while_newer_ones_arrive(
    answers_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    # Pairs of answers share an instant, so the cursor's tie-break on response_id matters.
    await handle(
        [
            response(workspace_id, f"r{i:02}", 7, answered_at=T0 + timedelta(minutes=i // 2))
            for i in range(11)
        ]
    )
    expected = [f"r{i:02}" for i in reversed(range(11))]

    seen: list[str] = []
    cursor: str | None = None
    newer = 0
    while True:
        body = await page(
            answers_api, workspace_id, limit=3, **({"cursor": cursor} if cursor else {})
        )
        seen += [item["response_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        newer += 1  # an answer newer than every one listed, between two page reads
        await handle(
            [response(workspace_id, f"new{newer}", 1, answered_at=T0 + timedelta(hours=1))]
        )

    assert seen == expected
    assert (await ids(answers_api, workspace_id, limit=200))[:newer] == [
        f"new{n}" for n in range(newer, 0, -1)
    ]


async def test_filters_all_hold_together(
    answers_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    await handle(
        [
            response(workspace_id, "a", 10, comment="great", answered_at=T0),
            response(workspace_id, "b", 2, comment="  ", channel="email", answered_at=T0),
            response(workspace_id, "c", 4, metric="csat", touchpoint="ticket_closed"),
            response(workspace_id, "d", 6, customer_id="c-42", answered_at=T0 + timedelta(days=1)),
            response(workspace_id, "e", 0, comment="broken", answered_at=T0 + timedelta(days=2)),
        ]
    )
    assert await ids(answers_api, workspace_id, touchpoint="ticket_closed") == ["c"]
    assert await ids(answers_api, workspace_id, metric="nps", score_max=6) == ["e", "d", "b"]
    assert await ids(answers_api, workspace_id, channel="email") == ["b"]
    assert await ids(answers_api, workspace_id, customer_id="c-42") == ["d"]
    assert await ids(answers_api, workspace_id, score_min=4, score_max=6) == ["d", "c"]
    assert await ids(answers_api, workspace_id, has_comment="true") == ["e", "a"]
    assert sorted(await ids(answers_api, workspace_id, has_comment="false")) == ["b", "c", "d"]
    window = {"from": minutes(0), "to": minutes(60 * 48)}
    assert sorted(await ids(answers_api, workspace_id, **window)) == ["a", "b", "c", "d"]
    assert await ids(answers_api, workspace_id, **window, score_min=5, has_comment=1) == ["a"]


async def test_another_workspaces_answers_are_invisible(
    answers_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    other = f"{workspace_id}-other"
    await handle([response(workspace_id, "mine", 9), response(other, "theirs", 1)])
    assert await ids(answers_api, workspace_id) == ["mine"]
    assert await ids(answers_api, other) == ["theirs"]
    exported = await answers_api.get(
        "/internal/v1/responses/export",
        params={"workspace_id": workspace_id, "format": "ndjson"},
        headers=BEARER,
    )
    assert [json.loads(line)["response_id"] for line in exported.text.splitlines()] == ["mine"]


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"limit": 201}, 422, "query.limit"),
        ({"limit": 0}, 422, "query.limit"),
        ({"score_min": 7, "score_max": 3}, 422, "query.score_max"),
        ({"score_min": 11}, 422, "query.score_min"),
        ({"from": minutes(5), "to": minutes(5)}, 422, "query.to"),
        ({"from": "2026-11-23T07:00:00"}, 422, "query.from"),
        ({"metric": "stars"}, 422, "query.metric"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, 400, "cursor"),
        ({"cursor": "WyIyMDI2LTExLTIzVDA3OjAwOjAwIiwgMV0"}, 400, "cursor"),
        ({"cursor": "%%%"}, 400, "cursor"),
    ],
)
async def test_bad_parameters_are_problems_naming_the_parameter(
    answers_api: httpx.AsyncClient,
    workspace_id: str,
    params: dict[str, Any],
    status: int,
    named: str,
) -> None:
    answer = await answers_api.get(
        "/internal/v1/responses", params={"workspace_id": workspace_id, **params}, headers=BEARER
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"].startswith(named)


async def test_the_internal_token_is_required(answers_api: httpx.AsyncClient) -> None:
    for path in ("/internal/v1/responses", "/internal/v1/responses/export"):
        answer = await answers_api.get(path, params={"workspace_id": "x"})
        assert answer.status_code == 401


async def test_the_csv_export_is_complete_in_order_quoted_and_formula_safe(
    answers_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    count = EXPORT_BATCH * 2 + 7  # more than one batch from the server-side cursor
    tricky = 'says "hi", then\nleaves; =HYPERLINK("http://evil")'
    await handle(
        [
            response(
                workspace_id,
                f"r{i:05}",
                i % 11,
                answered_at=T0 + timedelta(seconds=i),
                comment=tricky if i == 3 else None,
            )
            for i in range(count)
        ]
    )
    await handle([response(workspace_id, "=cmd", 5, comment="-1+1", customer_id="@c")])

    async with answers_api.stream(
        "GET",
        "/internal/v1/responses/export",
        params={"workspace_id": workspace_id, "format": "csv"},
        headers=BEARER,
    ) as exported:
        assert exported.status_code == 200
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        text = (await exported.aread()).decode()

    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(RESPONSE_COLUMNS)
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    by_id = {record["response_id"]: record for record in records}
    newest_first = sorted((f"r{i:05}" for i in range(count)), reverse=True)
    assert [r["response_id"] for r in records if r["response_id"].startswith("r")] == newest_first
    assert by_id["r00003"]["comment"] == tricky
    assert by_id["r00003"]["score"] == "3"
    assert by_id["r00003"]["answered_at"] == (T0 + timedelta(seconds=3)).isoformat()
    guarded = by_id["'=cmd"]
    assert (guarded["comment"], guarded["customer_id"]) == ("'-1+1", "'@c")
    assert len(records) == count + 1


async def test_the_ndjson_export_filters_and_gives_one_document_a_line(
    answers_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    await handle(
        [
            response(workspace_id, "a", 9, comment="line one\nline two", answered_at=T0),
            response(workspace_id, "b", 1, answered_at=T0 + timedelta(minutes=1)),
            response(workspace_id, "c", 8, answered_at=T0 + timedelta(minutes=2)),
        ]
    )
    exported = await answers_api.get(
        "/internal/v1/responses/export",
        params={"workspace_id": workspace_id, "format": "ndjson", "score_min": 5},
        headers=BEARER,
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/x-ndjson"
    lines = exported.text.splitlines()
    documents = [json.loads(line) for line in lines]
    assert [d["response_id"] for d in documents] == ["c", "a"]
    assert documents[1]["comment"] == "line one\nline two"
    assert set(documents[0]) == set(RESPONSE_COLUMNS)


async def test_an_empty_csv_export_is_just_the_header(
    answers_api: httpx.AsyncClient, workspace_id: str
) -> None:
    exported = await answers_api.get(
        "/internal/v1/responses/export", params={"workspace_id": workspace_id}, headers=BEARER
    )
    assert exported.status_code == 200
    assert exported.text == ",".join(RESPONSE_COLUMNS) + "\r\n"
