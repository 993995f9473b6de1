"""Ingest's API: canonical touchpoints, provider webhooks, answers from elsewhere, SMS replies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import structlog
from cxloop_shared.config import ConfigCache, SourceConfig, WorkspaceConfig
from cxloop_shared.errors import BadRequest, NotFound, Unauthorized, Unprocessable
from cxloop_shared.events import Touchpoint, utcnow
from cxloop_shared.http import read_body
from cxloop_shared.links import address_digest
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from cxloop_ingest import replies, service
from cxloop_ingest.deps import (
    AuthorizationHeader,
    IntakeDep,
    KeysDep,
    OutboxDep,
    ResponsesWriter,
    SessionDep,
    SettingsDep,
    database_outage_is_503,
)
from cxloop_ingest.intake import Intake
from cxloop_ingest.providers import adapter_for
from cxloop_ingest.providers.base import Delivery, PayloadRejected, SignatureRejected
from cxloop_ingest.providers.twilio import twilio_signature_valid
from cxloop_ingest.schemas import (
    EVENTS_BODY_SCHEMA,
    AcceptedOut,
    ResponseIn,
    ResponseOut,
    parse_touchpoints,
)
from cxloop_ingest.settings import Settings

log = structlog.get_logger(__name__)
router = APIRouter()

CANONICAL_SOURCE = "api"
SIGNED_CANONICAL_KINDS = ("canonical", "standard")
BAD_SIGNATURE = "the webhook signature is missing, stale or does not match a current secret"


def _split_id(compound: str, what: str) -> tuple[str, str]:
    """`<workspace>:<key>`, the public id of a workspace's source or channel."""
    workspace_id, _, key = compound.partition(":")
    if not workspace_id or not key:
        raise NotFound(f"unknown {what} {compound!r}; expected <workspace>:<{what}>")
    return workspace_id, key


async def _workspace_config(request: Request, workspace_id: str) -> WorkspaceConfig | None:
    configs: ConfigCache = request.app.state.configs
    async with database_outage_is_503():
        return await configs.get(workspace_id)


async def _source(request: Request, source_id: str) -> tuple[str, str, SourceConfig]:
    workspace_id, key = _split_id(source_id, "source")
    config = await _workspace_config(request, workspace_id)
    source = config.sources.get(key) if config else None
    if source is None:
        raise NotFound(f"unknown source {source_id!r}")
    return workspace_id, key, source


def _public_url(request: Request, settings: Settings) -> str:
    """The URL the sender called, which some schemes sign (behind a proxy: `public_url`)."""
    if settings.public_url is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_url.rstrip('/')}{request.url.path}{query}"


def _delivery(request: Request, body: bytes, settings: Settings) -> Delivery:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return Delivery(
        body=body, headers=headers, url=_public_url(request, settings), received_at=utcnow()
    )


def _verify(delivery: Delivery, source_id: str, source: SourceConfig) -> None:
    secrets = [secret.get_secret_value() for secret in source.secrets]
    try:
        if not secrets:
            raise SignatureRejected("the source has no secret configured")
        adapter_for(source.kind, mapping=source.mapping).verify(
            delivery, secrets, now=delivery.received_at
        )
    except SignatureRejected as exc:
        log.info("webhook.rejected", source=source_id, why=str(exc)[:200])
        raise Unauthorized(BAD_SIGNATURE) from exc


def _bind_log_context(*, workspace_id: str, source: str, touchpoints: Sequence[Touchpoint]) -> None:
    """Every line logged for the rest of the request names the events it is about."""
    ids: dict[str, object] = {"workspace_id": workspace_id, "source": source}
    if len(touchpoints) == 1:
        ids["event_id"] = touchpoints[0].id
    else:
        ids["event_ids"] = [t.id for t in touchpoints]
    structlog.contextvars.bind_contextvars(**ids)


async def _accept(
    intake: Intake, *, workspace_id: str, source: str, touchpoints: Sequence[Touchpoint]
) -> Response:
    _bind_log_context(workspace_id=workspace_id, source=source, touchpoints=touchpoints)
    async with database_outage_is_503():
        result = await intake.submit(
            workspace_id=workspace_id, source=source, touchpoints=touchpoints
        )
    all_duplicates = result.accepted == 0
    out = AcceptedOut(
        accepted=result.accepted, duplicates=result.duplicates, duplicate=all_duplicates
    )
    return JSONResponse(
        out.model_dump(exclude_none=True), status_code=200 if all_duplicates else 202
    )


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadRequest("the body is not valid JSON") from exc


ACCEPTED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": AcceptedOut, "description": "Every item was a duplicate, or was ignored"},
    401: {"description": "Missing or invalid key or signature"},
    404: {"description": "Unknown source"},
    413: {"description": "Body over the size limit"},
    422: {"description": "Invalid items, each named with its field"},
    503: {"description": "The database is down; retry after Retry-After seconds"},
}


@router.post(
    "/v1/events",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra={"requestBody": EVENTS_BODY_SCHEMA},
    summary="Post one canonical touchpoint or a batch of up to 1000",
    description=(
        "Authenticated by a workspace key with `events:write`, or, for a source of kind "
        "`canonical` or `standard` named in `?source=<workspace>:<source>`, by its Standard "
        "Webhooks signature. A batch is accepted or rejected whole."
    ),
    responses=ACCEPTED_RESPONSES,
)
async def post_events(
    request: Request,
    keys: KeysDep,
    intake: IntakeDep,
    settings: SettingsDep,
    authorization: AuthorizationHeader = None,
    source: Annotated[
        str | None,
        Query(max_length=210, description="`<workspace>:<source>` for a signed delivery."),
    ] = None,
) -> Response:
    if source is not None and authorization is None:
        workspace_id, source_key, config = await _source(request, source)
        if config.kind not in SIGNED_CANONICAL_KINDS:
            raise NotFound(f"source {source!r} does not take canonical events")
        body = await read_body(request, limit=settings.max_body_bytes)
        _verify(_delivery(request, body, settings), source, config)
    else:
        async with database_outage_is_503():
            principal = await keys.authenticate(authorization, "events:write")
        workspace_id, source_key = principal.workspace_id, CANONICAL_SOURCE
        body = await read_body(request, limit=settings.max_body_bytes)
    touchpoints = parse_touchpoints(_json(body), max_events=settings.max_batch_events)
    return await _accept(
        intake, workspace_id=workspace_id, source=source_key, touchpoints=touchpoints
    )


@router.post(
    "/v1/webhooks/{source_id:path}",
    status_code=202,
    response_model=AcceptedOut,
    summary="A provider-native webhook (Shopify, Stripe, Zendesk, Twilio Flex, Chatwoot, …)",
    description=(
        "`source_id` is `<workspace>:<source>` for a source registered in the workspace "
        "configuration. The delivery is verified by the provider's own signature scheme on the "
        "raw body, mapped onto canonical touchpoints, deduplicated by the provider's event id "
        "and made durable before the answer. Event types the source does not map are answered "
        "200 with `ignored`, so the provider stops retrying."
    ),
    responses=ACCEPTED_RESPONSES,
)
async def post_webhook(
    request: Request, source_id: str, intake: IntakeDep, settings: SettingsDep
) -> Response:
    workspace_id, source_key, source = await _source(request, source_id)
    body = await read_body(request, limit=settings.max_body_bytes)
    delivery = _delivery(request, body, settings)
    _verify(delivery, source_id, source)
    try:
        mapped = adapter_for(source.kind, mapping=source.mapping).map(delivery, source)
    except PayloadRejected as exc:
        raise Unprocessable(f"cannot map this delivery: {exc}") from exc
    if not mapped.touchpoints:
        out = AcceptedOut(accepted=0, duplicates=0, duplicate=False, ignored=mapped.ignored)
        return JSONResponse(out.model_dump(), status_code=200)
    return await _accept(
        intake, workspace_id=workspace_id, source=source_key, touchpoints=mapped.touchpoints
    )


@router.post(
    "/v1/responses",
    status_code=202,
    response_model=ResponseOut,
    summary="Record an answer collected elsewhere (IVR, agent desk, in-app)",
    description=(
        "Needs `responses:write`. Idempotent by `id`: the same answer again is a 200 "
        "`duplicate`; a changed score or comment under the same id is a new revision."
    ),
    responses={200: {"model": ResponseOut, "description": "The same answer was already recorded"}},
)
async def post_response(
    request: Request,
    answer: ResponseIn,
    principal: ResponsesWriter,
    session: SessionDep,
    outbox: OutboxDep,
) -> Response:
    structlog.contextvars.bind_contextvars(
        workspace_id=principal.workspace_id, response_id=answer.id
    )
    config = await _workspace_config(request, principal.workspace_id)
    recorded = await service.record_api_answer(
        session,
        outbox=outbox,
        workspace_id=principal.workspace_id,
        config=config,
        answer=answer,
    )
    out = ResponseOut(
        response_id=recorded.response.response_id,
        revision=recorded.response.revision,
        duplicate=not recorded.changed,
    )
    return JSONResponse(out.model_dump(), status_code=202 if recorded.changed else 200)


def _twiml(message: str | None) -> Response:
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(xml, media_type="text/xml")


@router.post(
    "/v1/inbound/sms/{channel_id:path}",
    summary="SMS replies, in Twilio's webhook format",
    description=(
        "`channel_id` is `<workspace>:<channel>` for a channel of kind `twilio`. Verified by "
        "`X-Twilio-Signature` over the full URL and the sorted form parameters, with the "
        "channel's auth token. A number is a score (words after it are the comment); STOP and "
        "the other carrier keywords opt the number out of SMS, START back in. Answers TwiML."
    ),
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}, "description": "TwiML reply"}},
)
async def inbound_sms(
    request: Request,
    channel_id: str,
    session: SessionDep,
    outbox: OutboxDep,
    settings: SettingsDep,
    signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None,
) -> Response:
    workspace_id, channel_key = _split_id(channel_id, "channel")
    config = await _workspace_config(request, workspace_id)
    channel = config.channels.get(channel_key) if config else None
    if config is None or channel is None or channel.kind != "twilio":
        raise NotFound(f"unknown SMS channel {channel_id!r}")
    body = await read_body(request, limit=64 * 1024)
    try:
        params = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100)
    except ValueError as exc:
        raise BadRequest("the body is not an application/x-www-form-urlencoded form") from exc
    secrets = [channel.auth_token.get_secret_value()] if channel.auth_token else []
    url = _public_url(request, settings)
    if not signature or not twilio_signature_valid(
        url=url, params=params, signature=signature, secrets=secrets
    ):
        log.info("sms.rejected", channel=channel_id, body_bytes=len(body))
        raise Unauthorized(BAD_SIGNATURE)
    fields = dict(params)
    sender, message_id = fields.get("From", ""), fields.get("MessageSid") or fields.get("SmsSid")
    if not sender or not message_id:
        raise Unprocessable("From and MessageSid are required")
    reply = replies.SmsReply(
        workspace_id=workspace_id,
        channel=channel_key,
        message_id=message_id,
        address_digest=address_digest(
            sender, workspace_id=workspace_id, secret=settings.link_secret.get_secret_value()
        ),
        text=fields.get("Body", "")[:1600],
    )
    answer = await replies.handle_sms_reply(session, outbox=outbox, config=config, reply=reply)
    return _twiml(answer)
