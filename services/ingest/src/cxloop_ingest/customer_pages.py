"""The pages customers open from a survey message: answer (`/r/…`) and unsubscribe (`/u/…`)."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.config import ConfigCache, SurveyConfig, WorkspaceConfig
from cxloop_shared.errors import CxloopError, NotFound
from cxloop_shared.events import CXI_ITEMS, CxiItem, CxiItems
from cxloop_shared.links import AnswerLink, InvalidLink, UnsubscribeLink, verify
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from cxloop_ingest import pages, service
from cxloop_ingest.deps import OutboxDep, SessionDep, SettingsDep

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}
CxiForm = Annotated[int | None, Form(ge=1, le=5, description="A CX Index item, 1-5.")]


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
    effective: CxiForm = None,
    easy: CxiForm = None,
    enjoyable: CxiForm = None,
) -> HTMLResponse:
    comment = (comment or "").strip() or None
    given: dict[CxiItem, int | None] = {
        "effective": effective,
        "easy": easy,
        "enjoyable": enjoyable,
    }
    items: CxiItems = {item: value for item, value in given.items() if value is not None}
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
            selected_items=items,
        )
        return HTMLResponse(html, status_code=status)

    complete = len(items) == len(CXI_ITEMS) if survey.metric == "cxi" else score is not None
    if not complete:
        return ask_again(pages.WORDS[pages.language(link.locale, config.locale)]["pick"], 422)
    try:
        await service.record_link_answer(
            session,
            outbox=outbox,
            link=link,
            score=score,
            comment=comment,
            items=items if survey.metric == "cxi" else None,
        )
    except CxloopError as exc:
        if exc.status == 410:
            return _html_error(exc, link.locale)
        return ask_again(exc.detail, exc.status)
    return HTMLResponse(pages.message_page(locale=link.locale, key="thanks"))


def _unsubscribe_link(request: Request, token: str) -> UnsubscribeLink:
    settings: SettingsDep = request.app.state.settings
    try:
        return verify(token, UnsubscribeLink, secret=settings.link_secret.get_secret_value())
    except InvalidLink as exc:
        raise NotFound("this unsubscribe link is not valid") from exc


@router.get("/u/{token}", response_class=HTMLResponse, summary="Confirm an unsubscribe")
async def confirm_unsubscribe(request: Request, token: str) -> HTMLResponse:
    # Only a confirmation: link checkers and mail scanners must not unsubscribe anyone.
    try:
        _unsubscribe_link(request, token)
    except CxloopError as exc:
        return _html_error(exc, None)
    return HTMLResponse(pages.unsubscribe_page(locale=None, token=token), headers=NO_STORE)


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe from the link's channel (RFC 8058 one-click)",
    description=(
        "Takes the `List-Unsubscribe=One-Click` body mail clients send, or the confirmation "
        "form; no session needed. Publishes the opt-out on `cx.customers`."
    ),
)
async def unsubscribe(
    request: Request, token: str, session: SessionDep, outbox: OutboxDep
) -> HTMLResponse:
    try:
        link = _unsubscribe_link(request, token)
    except CxloopError as exc:
        return _html_error(exc, None)
    await service.change_consent(
        session,
        outbox=outbox,
        workspace_id=link.workspace_id,
        customer_id=link.customer_id,
        channel=link.channel,
        change="opt_out",
    )
    return HTMLResponse(pages.message_page(locale=None, key="unsubscribed"), headers=NO_STORE)
