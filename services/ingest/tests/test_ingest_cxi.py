"""CX Index answers: three 1-5 items on the survey page and through the API."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from cxloop_shared import topics
from cxloop_shared.events import ResponseRecorded
from cxloop_shared.links import AnswerLink, sign
from ingest_support import LINK_SECRET, KafkaTap, Workspace


def cxi_link(workspace: Workspace) -> str:
    link = AnswerLink(
        workspace_id=workspace.id,
        invitation_id=uuid.uuid4(),
        customer_id="c-cxi",
        touchpoint="onboarding_done",
        survey="cxi",
        metric="cxi",
        channel="email",
        answer_until=datetime.now(UTC) + timedelta(days=7),
    )
    return sign(link, secret=LINK_SECRET)


async def answers(tap: KafkaTap, workspace: Workspace) -> list[ResponseRecorded]:
    published = await tap.published(topics.RESPONSES, workspace.id)
    return [event for event in published if isinstance(event, ResponseRecorded)]


async def test_the_page_asks_the_three_items_with_the_surveys_own_wording(
    ingest: httpx.AsyncClient, workspace: Workspace
) -> None:
    page = await ingest.get(f"/r/{cxi_link(workspace)}")

    assert page.status_code == 200
    for item in ("effective", "easy", "enjoyable"):
        assert len(re.findall(rf'name="{item}" value="[1-5]"', page.text)) == 5
    assert 'name="score"' not in page.text
    assert "How easy was setting up your account?" in page.text  # configured
    assert "How well did we meet your needs?" in page.text  # cxloop's default


async def test_items_are_recorded_with_their_mean_as_the_score_and_revised(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    token = cxi_link(workspace)
    first = await ingest.post(f"/r/{token}", data={"effective": "5", "easy": "4", "enjoyable": "4"})
    await ingest.post(f"/r/{token}", data={"effective": "5", "easy": "4", "enjoyable": "4"})
    revised = await ingest.post(
        f"/r/{token}", data={"effective": "2", "easy": "1", "enjoyable": "1", "comment": "slow"}
    )

    assert (first.status_code, revised.status_code) == (200, 200)
    assert [(r.items, r.score, r.revision, r.comment) for r in await answers(tap, workspace)] == [
        ({"effective": 5, "easy": 4, "enjoyable": 4}, 4, 1, None),
        ({"effective": 2, "easy": 1, "enjoyable": 1}, 1, 2, "slow"),
    ]


async def test_a_missing_item_asks_again_and_keeps_what_was_given(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    token = cxi_link(workspace)
    page = await ingest.post(f"/r/{token}", data={"effective": "3", "comment": "kept"})

    assert page.status_code == 422
    assert re.search(r'name="effective" value="3" required checked', page.text)
    assert "kept" in page.text
    assert await answers(tap, workspace) == []


async def test_the_api_takes_items_for_cx_index_and_names_what_is_wrong(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    auth = workspace.auth(workspace.responses_key)
    answer = {"id": "app-1", "touchpoint": "onboarding_done", "customer_id": "c-1"}

    scored_only = await ingest.post("/v1/responses", json={**answer, "score": 4}, headers=auth)
    partial = await ingest.post(
        "/v1/responses", json={**answer, "items": {"effective": 4}}, headers=auth
    )
    off_scale = await ingest.post(
        "/v1/responses",
        json={**answer, "items": {"effective": 4, "easy": 6, "enjoyable": 1}},
        headers=auth,
    )
    items_for_csat = await ingest.post(
        "/v1/responses",
        json={**answer, "touchpoint": "ticket_closed", "items": {"easy": 4}, "score": 4},
        headers=auth,
    )
    accepted = await ingest.post(
        "/v1/responses",
        json={**answer, "items": {"effective": 4, "easy": 3, "enjoyable": 2}},
        headers=auth,
    )

    assert scored_only.status_code == 422
    assert "items" in scored_only.json()["detail"]
    assert partial.status_code == 422
    assert "missing easy, enjoyable" in partial.json()["detail"]
    assert off_scale.status_code == 422
    assert "items.easy" in off_scale.json()["detail"]
    assert items_for_csat.status_code == 422
    assert "only a CX Index" in items_for_csat.json()["detail"]
    assert accepted.status_code == 202
    assert [(r.items, r.score, r.metric) for r in await answers(tap, workspace)] == [
        ({"effective": 4, "easy": 3, "enjoyable": 2}, 3, "cxi"),
    ]
