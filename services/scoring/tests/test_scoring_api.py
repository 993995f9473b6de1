"""The internal metrics API over rollups written by the batch handler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from scoring_support import BEARER, T0, invitation, response

WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


async def metrics(api: httpx.AsyncClient, workspace_id: str, **params: str) -> dict[str, Any]:
    answer = await api.get(
        "/internal/v1/metrics",
        params={"workspace_id": workspace_id, **WINDOW, **params},
        headers=BEARER,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "test-internal-token"])
async def test_only_callers_with_the_internal_token_get_in(
    api: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = await api.get("/internal/v1/metrics", params={"workspace_id": "x"}, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_nps_and_csat_with_n_and_response_rate(
    api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    # NPS: 10, 9, 9, 8, 3, 0 -> 3 promoters, 2 detractors of 6: 100 * (3 - 2) / 6 = 16.67.
    # r6 was first a 10, then revised to 0. CSAT: three answers, below the minimum of 5.
    nps_scores = {"r1": 10, "r2": 9, "r3": 9, "r4": 8, "r5": 3, "r6": 10}
    await handle([response(workspace_id, rid, score) for rid, score in nps_scores.items()])
    await handle(
        [
            response(workspace_id, "r6", 0, revision=2),
            *(response(workspace_id, f"c{i}", 5, metric="csat") for i in range(3)),
            *(invitation(workspace_id, uuid.uuid4()) for _ in range(12)),
        ]
    )
    report = await metrics(api, workspace_id)
    nps, csat = report["values"]
    assert nps["metric"] == "nps"
    assert nps["n"] == 6
    assert nps["score"] == pytest.approx(100 / 6)
    assert nps["details"] == {"promoters": 3, "passives": 1, "detractors": 2}
    assert (nps["invitations_sent"], nps["response_rate"]) == (12, 0.5)
    assert csat == {
        "metric": "csat",
        "n": 3,
        "score": None,
        "interval": None,
        "withheld_reason": "n=3 is below the workspace minimum of 5",
        "details": {},
        "invitations_sent": 0,
        "response_rate": None,
    }
    assert (report["from"], report["to"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert (report["timezone"], report["min_n"], report["granularity"]) == ("UTC", 5, "total")


async def test_a_touchpoint_and_a_window_slice_the_rollups(
    api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    await handle(
        [
            response(workspace_id, "in", 10),
            response(workspace_id, "other-touchpoint", 0, touchpoint="delivery"),
            response(workspace_id, "too-early", 0, answered_at=T0 - timedelta(minutes=1)),
            response(workspace_id, "too-late", 0, answered_at=T0 + timedelta(hours=1)),
        ]
    )
    report = await metrics(
        api,
        workspace_id,
        touchpoint="checkout",
        **{"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()},
    )
    assert report["touchpoint"] == "checkout"
    assert [(value["metric"], value["n"]) for value in report["values"]] == [("nps", 1)]


async def test_day_series_follow_a_half_hour_time_zone(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, timezone="Asia/Kolkata", settings={"min_n": 1})
    midnight = datetime(2026, 11, 10, tzinfo=UTC) - timedelta(hours=5, minutes=30)
    await handle(
        [
            response(workspace_id, "before", 0, answered_at=midnight - timedelta(seconds=1)),
            response(workspace_id, "at", 10, answered_at=midnight),
            response(workspace_id, "after", 9, answered_at=midnight + timedelta(hours=23)),
        ]
    )
    report = await metrics(api, workspace_id, granularity="day")
    assert report["timezone"] == "Asia/Kolkata"
    assert [(p["bucket_start"], p["values"][0]["n"]) for p in report["series"]] == [
        ("2026-11-09T00:00:00+05:30", 1),
        ("2026-11-10T00:00:00+05:30", 2),
    ]
    assert report["values"][0]["n"] == 3


async def test_week_series_follow_a_45_minute_time_zone(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, timezone="Asia/Kathmandu", settings={"min_n": 1})
    monday = datetime(2026, 11, 16, tzinfo=UTC) - timedelta(hours=5, minutes=45)
    await handle(
        [
            response(workspace_id, "sunday", 0, answered_at=monday - timedelta(minutes=10)),
            response(workspace_id, "monday", 10, answered_at=monday + timedelta(minutes=5)),
        ]
    )
    report = await metrics(api, workspace_id, granularity="week")
    assert [p["bucket_start"] for p in report["series"]] == [
        "2026-11-09T00:00:00+05:45",
        "2026-11-16T00:00:00+05:45",
    ]


async def test_hour_series_keep_both_hours_of_a_dst_fall_back(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    # On 2026-10-25 Berlin goes from 03:00 CEST back to 02:00 CET: 02:30 happens twice.
    await configure(workspace_id, timezone="Europe/Berlin", settings={"min_n": 1})
    await handle(
        [
            response(
                workspace_id, "cest", 10, answered_at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
            ),
            response(workspace_id, "cet", 0, answered_at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        ]
    )
    report = await metrics(
        api,
        workspace_id,
        granularity="hour",
        **{"from": "2026-10-24T00:00:00Z", "to": "2026-10-26T00:00:00Z"},
    )
    assert [(p["bucket_start"], p["values"][0]["score"]) for p in report["series"]] == [
        ("2026-10-25T02:00:00+02:00", 100.0),
        ("2026-10-25T02:00:00+01:00", -100.0),
    ]


async def test_groups_by_channel(api: httpx.AsyncClient, handle: Any, workspace_id: str) -> None:
    await handle(
        [
            *(response(workspace_id, f"w{i}", 10) for i in range(5)),
            *(response(workspace_id, f"s{i}", 0, channel="sms") for i in range(2)),
            response(workspace_id, "none", 9, channel=None),
        ]
    )
    report = await metrics(api, workspace_id, group_by="channel")
    assert report["group_by"] == "channel"
    assert [
        (g["value"], g["values"][0]["n"], g["values"][0]["score"]) for g in report["groups"]
    ] == [
        ("sms", 2, None),
        ("web", 5, 100.0),
        (None, 1, None),
    ]
    assert report["values"][0]["n"] == 8


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "must be after"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "400 days"),
        ({"from": "2026-11-01T00:00:00"}, "timezone"),
        ({"granularity": "year"}, "granularity"),
        ({"group_by": "customer"}, "group_by"),
        ({"compare": "next"}, "compare"),
    ],
)
async def test_a_bad_query_is_a_422_problem(
    api: httpx.AsyncClient, params: dict[str, str], detail: str, workspace_id: str
) -> None:
    answer = await api.get(
        "/internal/v1/metrics", params={"workspace_id": workspace_id, **params}, headers=BEARER
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"]


async def test_the_default_window_is_the_last_30_days(
    api: httpx.AsyncClient, workspace_id: str
) -> None:
    answer = await api.get(
        "/internal/v1/metrics", params={"workspace_id": workspace_id}, headers=BEARER
    )
    report = answer.json()
    start, end = datetime.fromisoformat(report["from"]), datetime.fromisoformat(report["to"])
    assert timedelta(days=30) <= end - start <= timedelta(days=30, minutes=15)
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=16)
    assert report["values"] == []
