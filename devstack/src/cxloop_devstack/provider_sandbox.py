"""Local stand-ins for the HTTP providers dispatch sends through: a Twilio-shaped
Messages API and a webhook receiver, recording everything they accept.

For end-to-end tests and local runs, where surveys must go somewhere real over
HTTP without reaching a real provider. Each request is checked the way the
provider would check it (Basic auth for Twilio); what was accepted is kept in
order for the caller to compare against what dispatch decided.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cxloop_devstack.serving import serving


@dataclass(frozen=True)
class Delivered:
    """One request the sandbox accepted."""

    kind: str  # "sms" or "webhook"
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class ProviderSandbox:
    """The recording; `url` is the sandbox's base URL once it is serving."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "sandbox-auth-token"  # noqa: S105 (a local stand-in's own token)
    url: str = ""
    delivered: list[Delivered] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def of_kind(self, kind: str) -> list[Delivered]:
        """What was accepted on one kind of endpoint, in arrival order."""
        with self._lock:
            return [d for d in self.delivered if d.kind == kind]

    def _keep(self, delivered: Delivered) -> None:
        with self._lock:
            self.delivered.append(delivered)


def sandbox_app(sandbox: ProviderSandbox) -> FastAPI:
    """`POST /2010-04-01/Accounts/{sid}/Messages.json` and `POST /webhooks/{name}`."""
    app = FastAPI()
    sids = itertools.count(1)
    expected = base64.b64encode(f"{sandbox.account_sid}:{sandbox.auth_token}".encode()).decode()

    @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def messages(account_sid: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        sandbox._keep(Delivered("sms", dict(request.headers), form=form))
        sid = f"SM{next(sids):032x}"
        body: dict[str, Any] = {"sid": sid, "status": "queued", "to": form.get("To")}
        return JSONResponse(body, status_code=201)

    @app.post("/webhooks/{name}")
    async def webhook(name: str, request: Request) -> JSONResponse:
        sandbox._keep(Delivered("webhook", dict(request.headers), body=await request.body()))
        return JSONResponse({"ok": True})

    return app


@contextmanager
def provider_sandbox() -> Iterator[ProviderSandbox]:
    """Serve a sandbox on a free port in a thread for the duration of the block."""
    sandbox = ProviderSandbox()
    with serving(sandbox_app(sandbox), lifespan="off") as url:
        sandbox.url = url
        yield sandbox
