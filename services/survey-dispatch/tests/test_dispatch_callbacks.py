"""Twilio delivery reports: verified, recorded on the invitation, undelivered published."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cxloop_dispatch import endpoints
from cxloop_dispatch.settings import Settings
from cxloop_dispatch.tables import outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived
from cxloop_shared.http import install_error_handlers
from cxloop_shared.outbox import Outbox
from dispatch_support import LINK_SECRET
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

TOKEN = "callback-auth-token"
PUBLIC = "https://dispatch.cx.example.com"


@pytest.fixture
async def api(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    """Dispatch's routes on a bare app (no consumers), reached as Twilio reaches them."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(endpoints.router)
    app.state.settings = Settings(link_secret=SecretStr(LINK_SECRET), callback_url=PUBLIC)
    app.state.sessions = sessions
    app.state.configs = ConfigCache(sessions, ttl=0)
    app.state.outbox = Outbox(outbox, source="tests")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as client:
        yield client


async def sent_sms(handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str) -> str:
    await configure(
        workspace_id,
        touchpoints={"checkout": {"survey": "csat", "policy": {"channels": ["sms"]}}},
        surveys={"csat": {"metric": "csat", "question": {"en": "How was it?"}}},
        channels={"sms": {"kind": "twilio", "account_sid": "AC1", "auth_token": TOKEN}},
    )
    now = datetime.now(UTC)
    event = Touchpoint(
        id="o-1",
        touchpoint="checkout",
        occurred_at=now,
        customer=Customer(id="c-1", phone="+14155550100"),
    )
    await handle(
        [TouchpointReceived(workspace_id=workspace_id, source="shop", received_at=now, event=event)]
    )
    async with engine.begin() as connection:
        return str(
            await connection.scalar(
                text(
                    "update dispatch.invitations set status = 'sent' where workspace_id = :w"
                    " returning id"
                ),
                {"w": workspace_id},
            )
        )


def report(path: str, status: str, token: str = TOKEN) -> tuple[dict[str, str], dict[str, str]]:
    form = {"MessageSid": "SM1", "MessageStatus": status, "ErrorCode": "30003"}
    signed = f"{PUBLIC}{path}" + "".join(k + form[k] for k in sorted(form))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return form, {"X-Twilio-Signature": base64.b64encode(digest).decode()}


async def delivery_and_events(engine: AsyncEngine, workspace_id: str) -> tuple[str | None, int]:
    async with engine.connect() as connection:
        delivery = await connection.scalar(
            text("select delivery from dispatch.invitations where workspace_id = :w"),
            {"w": workspace_id},
        )
        failed = await connection.scalar(
            text(
                "select count(*) from dispatch.outbox where convert_from(key, 'UTF8') like :k"
                " and convert_from(value, 'UTF8') like '%undelivered%'"
            ),
            {"k": f"{workspace_id}:%"},
        )
    return delivery, int(failed or 0)


async def test_delivery_reports_are_verified_and_recorded(
    api: httpx.AsyncClient, handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    invitation = await sent_sms(handle, configure, engine, workspace_id)
    path = f"/v1/callbacks/sms/{workspace_id}:sms/{invitation}"

    forged = await api.post(
        path,
        data=report(path, "undelivered", "wrong")[0],
        headers=report(path, "undelivered", "wrong")[1],
    )
    assert forged.status_code == 401
    assert await delivery_and_events(engine, workspace_id) == (None, 0)

    form, headers = report(path, "delivered")
    assert (await api.post(path, data=form, headers=headers)).status_code == 204
    assert await delivery_and_events(engine, workspace_id) == ("delivered", 0)

    form, headers = report(path, "undelivered")
    assert (await api.post(path, data=form, headers=headers)).status_code == 204
    assert (await api.post(path, data=form, headers=headers)).status_code == 204
    assert await delivery_and_events(engine, workspace_id) == ("failed", 1)

    unknown = await api.post(f"/v1/callbacks/sms/{workspace_id}:email/{invitation}", data=form)
    assert unknown.status_code == 404
