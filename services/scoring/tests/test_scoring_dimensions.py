"""Persona and stage as dimensions, period-over-period change and the journey map, through
the batch handlers and the internal API against a real Postgres."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cxloop_scoring.rollups import histogram_of
from scoring_dimensions_support import customer_touchpoint, staged_configuration
from scoring_support import BEARER, invitation, response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


async def rows(engine: AsyncEngine, query: str, workspace_id: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        found = await connection.execute(
            text(f"{query} where workspace_id = :w order by 1, 2"), {"w": workspace_id}
        )
        return [tuple(row) for row in found]


async def get(api: httpx.AsyncClient, path: str, workspace_id: str, **params: str) -> Any:
    answer = await api.get(
        f"/internal/v1{path}", params={"workspace_id": workspace_id, **params}, headers=BEARER
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_persona_is_stamped_on_answers_and_invitations_sent(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    smb, anonymous = uuid.uuid4(), uuid.uuid4()
    await handle(
        [
            customer_touchpoint(workspace_id, "e-smb", persona="smb-owner"),
            customer_touchpoint(workspace_id, "e-anon", persona=None, customer_id="c-2"),
        ]
    )
    await handle(
        [
            invitation(workspace_id, smb, event_id="e-smb"),
            invitation(workspace_id, anonymous, event_id="e-anon", customer_id="c-2"),
            response(workspace_id, "r-smb", 9, invitation_id=smb),
            response(workspace_id, "r-anon", 3, invitation_id=anonymous),
            response(workspace_id, "r-api", 10, collected_via="api"),  # no invitation
        ]
    )
    assert await rows(engine, "select response_id, persona from scoring.answers", workspace_id) == [
        ("r-anon", ""),
        ("r-api", ""),
        ("r-smb", "smb-owner"),
    ]
    assert sorted(
        await rows(
            engine,
            "select persona, invitation_id::text from scoring.invitations_sent",
            workspace_id,
        )
    ) == sorted([("", str(anonymous)), ("smb-owner", str(smb))])
    assert await rows(engine, "select persona, counts from scoring.rollups", workspace_id) == [
        ("", histogram_of([3, 10])),
        ("smb-owner", histogram_of([9])),
    ]
    assert await rows(engine, "select persona, sent from scoring.sent_rollups", workspace_id) == [
        ("", 1),
        ("smb-owner", 1),
    ]


async def test_a_revision_moves_the_answer_to_the_persona_known_by_then(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    # The answer overtakes its touchpoint: recorded without a persona, it moves to the
    # persona's rollup when revised after the touchpoint arrived.
    sent = uuid.uuid4()
    await handle(
        [
            invitation(workspace_id, sent, event_id="e-late"),
            response(workspace_id, "r1", 2, invitation_id=sent),
        ]
    )
    await handle([customer_touchpoint(workspace_id, "e-late", persona="enterprise")])
    await handle([response(workspace_id, "r1", 10, invitation_id=sent, revision=2)])
    assert await rows(engine, "select persona, counts from scoring.rollups", workspace_id) == [
        ("", histogram_of([])),
        ("enterprise", histogram_of([10])),
    ]
    assert await rows(
        engine, "select revision, persona from scoring.answer_revisions", workspace_id
    ) == [(1, ""), (2, "enterprise")]


async def test_groups_by_persona_stage_and_touchpoint(
    api: httpx.AsyncClient,
    handle: Any,
    configure: Any,
    reconfigure: Any,
    workspace_id: str,
) -> None:
    await configure(workspace_id, **staged_configuration())
    events: list[Any] = []
    for index, (touchpoint, persona, score, metric) in enumerate(
        [
            ("checkout", "smb-owner", 5, "csat"),
            ("checkout", "enterprise", 1, "csat"),
            ("ticket_closed", "smb-owner", 4, "csat"),
            ("cart", "smb-owner", 10, "nps"),
            ("unstaged", None, 6, "ces"),
            ("returns", "enterprise", 0, "nps"),  # not configured at all
        ]
    ):
        sent = uuid.uuid4()
        events += [
            customer_touchpoint(workspace_id, f"e{index}", persona=persona, touchpoint=touchpoint),
            invitation(
                workspace_id, sent, event_id=f"e{index}", touchpoint=touchpoint, metric=metric
            ),
            response(
                workspace_id,
                f"r{index}",
                score,
                invitation_id=sent,
                touchpoint=touchpoint,
                metric=metric,
            ),
        ]
    await handle(events)

    def summary(report: Any) -> list[tuple[Any, ...]]:
        return [
            (group["value"], *((v["metric"], v["n"]) for v in group["values"]))
            for group in report["groups"]
        ]

    by_persona = await get(api, "/metrics", workspace_id, group_by="persona", **WINDOW)
    assert summary(by_persona) == [
        ("enterprise", ("nps", 1), ("csat", 1)),
        ("smb-owner", ("nps", 1), ("csat", 2)),
        (None, ("ces", 1)),
    ]
    by_stage = await get(api, "/metrics", workspace_id, group_by="stage", **WINDOW)
    assert summary(by_stage) == [
        ("purchase", ("nps", 1), ("csat", 2)),
        ("support", ("csat", 1)),
        (None, ("nps", 1), ("ces", 1)),
    ]
    assert by_stage["groups"][0]["values"][1]["invitations_sent"] == 2
    by_touchpoint = await get(api, "/metrics", workspace_id, group_by="touchpoint", **WINDOW)
    assert [group["value"] for group in by_touchpoint["groups"]] == [
        "cart",
        "checkout",
        "returns",
        "ticket_closed",
        "unstaged",
    ]

    # Re-staged, ticket_closed moves to purchase with its history.
    await reconfigure(workspace_id, **staged_configuration({"ticket_closed": "purchase"}))
    restaged = await get(api, "/metrics", workspace_id, group_by="stage", **WINDOW)
    assert summary(restaged) == [
        ("purchase", ("nps", 1), ("csat", 3)),
        (None, ("nps", 1), ("ces", 1)),
    ]


async def test_compare_with_the_previous_window(
    api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    current = datetime(2026, 11, 8, tzinfo=UTC)
    before = current - timedelta(days=7)
    await handle(
        [
            *(
                response(workspace_id, f"p{i}", score, answered_at=before + timedelta(hours=i))
                for i, score in enumerate([10, 10, 10, 0, 0])
            ),
            *(
                response(workspace_id, f"c{i}", score, answered_at=current + timedelta(hours=i))
                for i, score in enumerate([10, 10, 10, 10, 0])
            ),
            response(workspace_id, "too-early", 0, answered_at=before - timedelta(minutes=1)),
            response(workspace_id, "csat", 5, metric="csat", answered_at=current),
        ]
    )
    window = {"from": current.isoformat(), "to": (current + timedelta(days=7)).isoformat()}
    plain = await get(api, "/metrics", workspace_id, **window)
    assert plain["comparison"] is None

    report = await get(api, "/metrics", workspace_id, compare="previous", **window)
    comparison = report["comparison"]
    assert (comparison["from"], comparison["to"]) == (
        "2026-11-01T00:00:00Z",
        "2026-11-08T00:00:00Z",
    )
    assert [(v["metric"], v["n"], v["score"]) for v in comparison["values"]] == [("nps", 5, 20.0)]
    nps_change, csat_change = comparison["changes"]
    # Previous 3 P / 2 D of 5: NPS 20, SE 100 * sqrt(0.96 / 5) = 43.8178.
    # Current 4 P / 1 D of 5: NPS 60, SE 100 * sqrt(0.64 / 5) = 35.7771.
    # Change 40 with SE sqrt(1920 + 1280) = 56.5685: not significant.
    assert nps_change == {
        "metric": "nps",
        "previous_score": pytest.approx(20.0),
        "score": pytest.approx(60.0),
        "change": pytest.approx(40.0),
        "standard_error": pytest.approx(math.sqrt(3200)),
        "significant": False,
        "reason": None,
    }
    assert csat_change["metric"] == "csat"
    assert csat_change["change"] is None
    assert csat_change["reason"] == (
        "previous: n=0 is below the workspace minimum of 5; "
        "current: n=1 is below the workspace minimum of 5"
    )


async def test_the_journey_map(
    api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, **staged_configuration(min_n=2, timezone="Europe/Berlin"))
    await handle(
        [
            *(
                response(workspace_id, f"co{i}", 5, touchpoint="checkout", metric="csat")
                for i in range(3)
            ),
            *(response(workspace_id, f"ca{i}", 0, touchpoint="cart") for i in range(2)),
            response(workspace_id, "od", 10, touchpoint="order_delivered"),
            invitation(workspace_id, uuid.uuid4(), touchpoint="checkout", metric="csat"),
        ]
    )
    body = await get(api, "/journeys/buy_and_use/map", workspace_id, **WINDOW)
    assert list(body) == ["journey", "from", "to", "timezone", "min_n", "stages"]
    assert (body["journey"], body["timezone"], body["min_n"]) == ("buy_and_use", "Europe/Berlin", 2)
    assert (body["from"], body["to"]) == (WINDOW["from"], WINDOW["to"])
    assert [
        (stage["stage"], stage["status"], [t["touchpoint"] for t in stage["touchpoints"]])
        for stage in body["stages"]
    ] == [
        ("awareness", "grey", []),
        ("purchase", "red", ["cart", "checkout"]),
        ("use", "grey", ["order_delivered"]),
        ("support", "grey", ["ticket_closed"]),
    ]
    purchase = body["stages"][1]
    assert purchase["statuses"] == {"nps": "red", "csat": "green"}
    checkout = purchase["touchpoints"][1]
    assert (checkout["metric"], checkout["status"], checkout["statuses"]) == (
        "csat",
        "green",
        {"csat": "green"},
    )
    assert (checkout["values"][0]["n"], checkout["values"][0]["invitations_sent"]) == (3, 1)


@pytest.mark.parametrize("journey", ["buy_and_use", "nowhere"])
async def test_a_journey_not_configured_is_a_404_problem(
    api: httpx.AsyncClient, configure: Any, workspace_id: str, journey: str
) -> None:
    if journey == "nowhere":
        await configure(workspace_id, **staged_configuration())
    answer = await api.get(
        f"/internal/v1/journeys/{journey}/map",
        params={"workspace_id": workspace_id},
        headers=BEARER,
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == f"no journey {journey!r} in workspace {workspace_id}"


async def test_a_journey_map_window_is_checked(
    api: httpx.AsyncClient, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, **staged_configuration())
    answer = await api.get(
        "/internal/v1/journeys/buy_and_use/map",
        params={
            "workspace_id": workspace_id,
            "from": "2026-11-02T00:00:00Z",
            "to": "2026-11-01T00:00:00Z",
        },
        headers=BEARER,
    )
    assert answer.status_code == 422
    assert "must be after" in answer.json()["detail"]
