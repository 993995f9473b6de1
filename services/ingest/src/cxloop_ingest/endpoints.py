"""Ingest's routes: canonical touchpoints and the survey answer pages."""

from __future__ import annotations

import json
from typing import Annotated

from cxloop_shared.config import ConfigCache, SurveyConfig, WorkspaceConfig
from cxloop_shared.errors import BadRequest, CxloopError, NotFound
from cxloop_shared.http import read_body
from cxloop_shared.links import AnswerLink, InvalidLink, verify
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from cxloop_ingest import pages, service
from cxloop_ingest.deps import EventsWriter, OutboxDep, SessionDep, SettingsDep
from cxloop_ingest.schemas import EVENTS_BODY_SCHEMA, AcceptedOut, parse_touchpoints

router = APIRouter()

CANONICAL_SOURCE = "api"


@router.post(
    "/v1/events",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra={"requestBody": EVENTS_BODY_SCHEMA},
    summary="Post one canonical touchpoint or a batch of up to 1000",
    responses={200: {"model": AcceptedOut, "description": "Every item was a duplicate"}},
)
async def post_events(
    request: Request,
    principal: EventsWriter,
    session: SessionDep,
    outbox: OutboxDep,
    settings: SettingsDep,
) -> Response:
    body = await read_body(request, limit=settings.max_body_bytes)
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise BadRequest("the body is not valid JSON") from exc
    touchpoints = parse_touchpoints(document, max_events=settings.max_batch_events)
    result = await service.accept_touchpoints(
        session,
        outbox=outbox,
        workspace_id=principal.workspace_id,
        source=CANONICAL_SOURCE,
        touchpoints=touchpoints,
    )
    all_duplicates = result.accepted == 0
    out = AcceptedOut(
        accepted=result.accepted, duplicates=result.duplicates, duplicate=all_duplicates
    )
    return JSONResponse(out.model_dump(), status_code=200 if all_duplicates else 202)


async def _open_survey(
    request: Request, token: str
) -> tuple[AnswerLink, WorkspaceConfig, SurveyConfig]:
    settings: SettingsDep = request.app.state.settings
    configs: ConfigCache = request.app.state.configs
    try:
        link = verify(token, AnswerLink, secret=settings.link_secret.get_secret_value())
    except InvalidLink as exc:
        raise NotFound("this survey link is not valid") from exc
    config = await configs.get(link.workspace_id)
    survey = config.surveys.get(link.survey) if config else None
    if config is None or survey is None:
        raise NotFound("this survey link is not valid")
    return link, config, survey


def _html_error(exc: CxloopError, locale: str | None) -> HTMLResponse:
    key = {404: "invalid", 410: "closed"}.get(exc.status, "invalid")
    return HTMLResponse(pages.message_page(locale=locale, key=key), status_code=exc.status)


@router.get("/r/{token}", response_class=HTMLResponse, summary="Show the micro-survey")
async def show_survey(
    request: Request, token: str, s: Annotated[int | None, Query(ge=0, le=10)] = None
) -> HTMLResponse:
    # Mail scanners follow links: showing the page records nothing.
    try:
        link, config, survey = await _open_survey(request, token)
    except CxloopError as exc:
        return _html_error(exc, None)
    html = pages.survey_page(link=link, token=token, config=config, survey=survey, selected=s)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.post("/r/{token}", response_class=HTMLResponse, summary="Record or revise the answer")
async def answer_survey(
    request: Request,
    token: str,
    session: SessionDep,
    outbox: OutboxDep,
    score: Annotated[int | None, Form(ge=0, le=10)] = None,
    comment: Annotated[str | None, Form(max_length=5000)] = None,
) -> HTMLResponse:
    comment = (comment or "").strip() or None
    try:
        link, config, survey = await _open_survey(request, token)
    except CxloopError as exc:
        return _html_error(exc, None)

    def ask_again(error: str, status: int) -> HTMLResponse:
        # The comment survives, so a customer who forgot the score loses nothing.
        html = pages.survey_page(
            link=link,
            token=token,
            config=config,
            survey=survey,
            selected=None,
            comment=comment,
            error=error,
        )
        return HTMLResponse(html, status_code=status)

    if score is None:
        return ask_again(pages.WORDS[pages.language(link.locale, config.locale)]["pick"], 422)
    try:
        await service.record_link_answer(
            session, outbox=outbox, link=link, score=score, comment=comment
        )
    except CxloopError as exc:
        if exc.status == 410:
            return _html_error(exc, link.locale)
        return ask_again(exc.detail, exc.status)
    return HTMLResponse(pages.message_page(locale=link.locale, key="thanks"))
