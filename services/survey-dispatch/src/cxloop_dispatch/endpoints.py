"""Dispatch's HTTP routes: delivery reports from providers.

Twilio posts a status callback for each SMS it was given (queued, sent,
delivered, undelivered, failed). The URL carries the invitation; the request is
verified with the channel's auth token over the full URL and the form, as
Twilio signs it. An undelivered survey is published as `failed`, so the trace of
the event says it never reached the customer.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import parse_qsl

import cxloop_shared.topics as topics
import structlog
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import transaction
from cxloop_shared.errors import BadRequest, NotFound, Unauthorized
from cxloop_shared.events import utcnow
from cxloop_shared.http import read_body
from cxloop_shared.outbox import Outbox
from cxloop_shared.twilio import twilio_signature_valid
from fastapi import APIRouter, Header, Request, Response

from cxloop_dispatch import repository
from cxloop_dispatch.channels import sms_delivery_status
from cxloop_dispatch.handlers import invitation_changed

log = structlog.get_logger(__name__)
router = APIRouter()


def callback_path(workspace_id: str, channel: str, invitation_id: uuid.UUID) -> str:
    """Where Twilio reports on one invitation's SMS."""
    return f"/v1/callbacks/sms/{workspace_id}:{channel}/{invitation_id}"


@router.post(
    "/v1/callbacks/sms/{channel_id}/{invitation_id}",
    status_code=204,
    summary="Twilio status callback for a survey SMS",
)
async def sms_status(
    request: Request,
    channel_id: str,
    invitation_id: uuid.UUID,
    signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None,
) -> Response:
    workspace_id, _, channel_key = channel_id.partition(":")
    configs: ConfigCache = request.app.state.configs
    config = await configs.get(workspace_id) if workspace_id else None
    channel = config.channels.get(channel_key) if config else None
    if channel is None or channel.kind != "twilio" or channel.auth_token is None:
        raise NotFound(f"unknown SMS channel {channel_id!r}")
    body = await read_body(request, limit=64 * 1024)
    try:
        form = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100)
    except ValueError as exc:
        raise BadRequest("the body is not a form") from exc
    public = request.app.state.settings.callback_url
    url = f"{public.rstrip('/')}{request.url.path}" if public else str(request.url)
    valid = twilio_signature_valid(
        url=url,
        params=form,
        signature=signature or "",
        secrets=[channel.auth_token.get_secret_value()],
    )
    if not valid:
        raise Unauthorized("the Twilio signature does not match")
    delivery = sms_delivery_status(dict(form))
    if delivery is None:
        return Response(status_code=204)
    outbox: Outbox = request.app.state.outbox
    async with transaction(request.app.state.sessions) as session:
        invitation = await repository.record_delivery(
            session, invitation_id=invitation_id, workspace_id=workspace_id, delivery=delivery
        )
        if invitation is not None and delivery == "failed":
            failed = invitation_changed(invitation, status="failed", at=utcnow())
            failed = failed.model_copy(update={"reason": "undelivered"})
            await outbox.add(session, [(topics.INVITATIONS, failed)])
    log.info("sms.delivery", invitation_id=str(invitation_id), delivery=delivery)
    return Response(status_code=204)
