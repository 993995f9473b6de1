"""Answers: the survey page, answers from elsewhere, and one-click unsubscribes."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from cxloop_shared import topics
from cxloop_shared.events import CustomerChanged, ResponseRecorded
from cxloop_shared.links import AnswerLink, UnsubscribeLink, sign
from ingest_support import LINK_SECRET, KafkaTap, Workspace


def answer_link(workspace: Workspace, *, until: datetime | None = None) -> str:
    link = AnswerLink(
        workspace_id=workspace.id,
        invitation_id=uuid.uuid4(),
        customer_id="c-7",
        touchpoint="order_delivered",
        survey="nps",
        metric="nps",
        channel="email",
        locale="de-AT",
        answer_until=until or datetime.now(UTC) + timedelta(days=7),
    )
    return sign(link, secret=LINK_SECRET)


async def test_showing_the_survey_records_nothing_and_preselects_the_score(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    token = answer_link(workspace)
    page = await ingest.get(f"/r/{token}?s=9")

    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert re.search(r'value="9" required checked', page.text)
    assert await tap.published(topics.RESPONSES, workspace.id) == []


async def test_posting_records_then_revises_and_a_double_submit_is_no_revision(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    token = answer_link(workspace)
    await ingest.post(f"/r/{token}", data={"score": "6"})
    await ingest.post(f"/r/{token}", data={"score": "6"})
    revised = await ingest.post(f"/r/{token}", data={"score": "9", "comment": " Great "})

    assert revised.status_code == 200
    published = await tap.published(topics.RESPONSES, workspace.id)
    assert [
        (r.score, r.revision, r.comment) for r in published if isinstance(r, ResponseRecorded)
    ] == [
        (6, 1, None),
        (9, 2, "Great"),
    ]


async def test_closed_and_tampered_links(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    closed = answer_link(workspace, until=datetime.now(UTC) - timedelta(seconds=1))
    token = answer_link(workspace)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")

    assert (await ingest.post(f"/r/{closed}", data={"score": "9"})).status_code == 410
    assert (await ingest.post(f"/r/{tampered}", data={"score": "9"})).status_code == 404
    assert (await ingest.get(f"/r/{tampered}")).status_code == 404
    assert (await ingest.post(f"/r/{token}", data={"score": "11"})).status_code == 422
    assert await tap.published(topics.RESPONSES, workspace.id) == []


def api_answer(**fields: object) -> dict[str, object]:
    return {
        "id": "ivr-1",
        "touchpoint": "ticket_closed",
        "customer_id": "c-9",
        "score": 2,
        **fields,
    }


async def test_an_answer_from_elsewhere_is_idempotent_by_its_id(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    auth = workspace.auth(workspace.responses_key)
    first = await ingest.post("/v1/responses", json=api_answer(channel="ivr"), headers=auth)
    same = await ingest.post("/v1/responses", json=api_answer(channel="ivr"), headers=auth)
    revised = await ingest.post("/v1/responses", json=api_answer(score=4), headers=auth)

    assert (first.status_code, same.status_code, revised.status_code) == (202, 200, 202)
    assert same.json() == {"response_id": "ivr-1", "revision": 1, "duplicate": True}
    assert revised.json()["revision"] == 2
    published = [
        r
        for r in await tap.published(topics.RESPONSES, workspace.id)
        if isinstance(r, ResponseRecorded)
    ]
    assert [(r.score, r.revision, r.metric, r.collected_via) for r in published] == [
        (2, 1, "csat", "api"),
        (4, 2, "csat", "api"),
    ]


async def test_answers_from_elsewhere_are_validated(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    auth = workspace.auth(workspace.responses_key)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    unknown = await ingest.post("/v1/responses", json=api_answer(touchpoint="nope"), headers=auth)
    off_scale = await ingest.post("/v1/responses", json=api_answer(score=9), headers=auth)
    ahead = await ingest.post("/v1/responses", json=api_answer(answered_at=future), headers=auth)
    no_scope = await ingest.post("/v1/responses", json=api_answer(), headers=workspace.auth())

    assert unknown.status_code == 422
    assert "touchpoint" in unknown.json()["detail"]
    assert off_scale.status_code == 422
    assert "between 1 and 5" in off_scale.json()["detail"]
    assert ahead.status_code == 422
    assert no_scope.status_code == 403
    assert await tap.published(topics.RESPONSES, workspace.id) == []


def unsubscribe_link(workspace: Workspace) -> str:
    link = UnsubscribeLink(workspace_id=workspace.id, customer_id="c-3", channel="email")
    return sign(link, secret=LINK_SECRET)


async def test_following_an_unsubscribe_link_only_asks(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    page = await ingest.get(f"/u/{unsubscribe_link(workspace)}")

    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert await tap.published(topics.CUSTOMERS, workspace.id) == []


async def test_one_click_unsubscribe_publishes_the_opt_out(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    token = unsubscribe_link(workspace)
    answer = await ingest.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    tampered = await ingest.post(f"/u/{token}x", data={"List-Unsubscribe": "One-Click"})
    answer_token = await ingest.post(f"/u/{answer_link(workspace)}", data={})

    assert answer.status_code == 200
    assert tampered.status_code == 404
    assert answer_token.status_code == 404, "an answer link is not an unsubscribe link"
    published = await tap.published(topics.CUSTOMERS, workspace.id)
    assert [
        (e.customer_id, e.change, e.channel) for e in published if isinstance(e, CustomerChanged)
    ] == [("c-3", "opt_out", "email")]
