"""Stand-ins for the providers the channel adapters call: real HTTP servers on loopback.

Each is a small Starlette app served by uvicorn in a thread, so the adapters go through
their real HTTP client, timeouts and connection handling. A stub checks credentials the
way the provider does, records what it received, and answers as a test tells it to:
accept, rate-limit, fail, refuse with a provider error code, or hang after reading the
request (a response that never comes back).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from cxloop_devstack.ports import free_port
from cxloop_devstack.serving import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Answer = Literal["accept", "rate_limited", "down", "refuse", "hang"]
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-for-tests"
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "whatsapp-access-token-for-tests"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook secret for the channel tests").decode()
GRAPH_VERSION = "v21.0"


@dataclass
class Received:
    """One request as the provider got it."""

    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ProviderStub:
    """What a stand-in received, and how it answers the next request."""

    url: str = ""
    answer: Answer = "accept"
    status: int | None = None  # overrides the answer's usual HTTP status
    code: int | None = None  # the provider error code of a refusal or rate limit
    retry_after: str | None = None
    hang_seconds: float = 10.0
    received: list[Received] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)  # webhook: signature checked out
    _released: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Back to accepting, forgetting what was received; ends any hanging request."""
        self._released.set()
        self._released = threading.Event()
        self.answer, self.status, self.code, self.retry_after = "accept", None, None, None
        self.received.clear()
        self.verified.clear()

    async def hang(self) -> None:
        """Hold the response back until `hang_seconds` pass or the test moves on."""
        await asyncio.to_thread(self._released.wait, self.hang_seconds)

    def wait_received(self, count: int, *, within: float = 5.0) -> bool:
        """Whether `count` requests arrived within `within` seconds: the server thread
        may read a request after the client has already given up on it."""
        deadline = time.monotonic() + within
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.received) == count

    async def record(self, request: Request) -> Received:
        seen = Received(request.url.path, dict(request.headers), await request.body())
        self.received.append(seen)
        return seen


class HandOverLog:
    """A `handing_over` callback that notes how many requests the provider had by then."""

    def __init__(self, stub: ProviderStub | None = None) -> None:
        self._stub = stub
        self.provider_had: list[int] = []

    async def __call__(self) -> None:
        self.provider_had.append(len(self._stub.received) if self._stub else 0)


@contextmanager
def provider(app_for: Callable[[ProviderStub], Starlette]) -> Iterator[ProviderStub]:
    """A stub and its server; hanging requests are released before shutting down."""
    stub = ProviderStub()
    with serving(app_for(stub), lifespan="off") as url:
        stub.url = url
        try:
            yield stub
        finally:
            stub.reset()


def unreachable_url() -> str:
    """A loopback URL nothing listens on: the connection is refused."""
    return f"http://127.0.0.1:{free_port()}"


# --- Twilio Messages API -----------------------------------------------------------------


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def twilio_app(stub: ProviderStub) -> Starlette:
    """`POST /2010-04-01/Accounts/{sid}/Messages.json`, Basic auth, form-encoded."""

    async def create_message(request: Request) -> Response:
        seen = await stub.record(request)
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if (
            request.path_params["sid"] != ACCOUNT_SID
            or request.headers.get("authorization") != f"Basic {expected}"
        ):
            return JSONResponse(_twilio_error(20003, "Authenticate", 401), status_code=401)
        if stub.answer == "rate_limited":
            status = stub.status or 429
            headers = {"Retry-After": stub.retry_after} if stub.retry_after else None
            body = _twilio_error(stub.code or 20429, "Too Many Requests", status)
            return JSONResponse(body, status_code=status, headers=headers)
        if stub.answer == "down":
            status = stub.status or 500
            return JSONResponse(_twilio_error(20500, "Internal Server Error", status), status)
        if stub.answer == "refuse":
            to = seen.form().get("To", "")
            # Like Twilio's, the message repeats the number: the adapter must drop it.
            message = f"The 'To' number {to} is not a valid phone number."
            status = stub.status or 400
            return JSONResponse(_twilio_error(stub.code or 21211, message, status), status)
        if stub.answer == "hang":
            await stub.hang()
        form = seen.form()
        resource = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": ACCOUNT_SID,
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "status": "queued",
            "num_segments": "1",
        }
        return JSONResponse(resource, status_code=201)

    path = "/2010-04-01/Accounts/{sid}/Messages.json"
    return Starlette(routes=[Route(path, create_message, methods=["POST"])])


# --- WhatsApp Cloud API ------------------------------------------------------------------


def _graph_error(code: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }


def whatsapp_app(stub: ProviderStub) -> Starlette:
    """`POST /{version}/{phone_number_id}/messages`, Bearer token, JSON."""

    async def send_message(request: Request) -> Response:
        seen = await stub.record(request)
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return JSONResponse(_graph_error(190, "Invalid OAuth access token"), status_code=401)
        if request.path_params["phone_number_id"] != PHONE_NUMBER_ID:
            return JSONResponse(_graph_error(100, "Invalid parameter"), status_code=400)
        if stub.answer == "rate_limited":
            headers = {"Retry-After": stub.retry_after} if stub.retry_after else None
            body = _graph_error(stub.code or 130429, "Rate limit hit")
            return JSONResponse(body, status_code=stub.status or 429, headers=headers)
        if stub.answer == "down":
            body = _graph_error(stub.code or 2, "Service temporarily unavailable")
            return JSONResponse(body, status_code=stub.status or 503)
        if stub.answer == "refuse":
            body = _graph_error(stub.code or 132001, "Template name does not exist")
            return JSONResponse(body, status_code=stub.status or 400)
        if stub.answer == "hang":
            await stub.hang()
        to = seen.json()["to"]
        accepted = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": "wamid." + uuid.uuid4().hex}],
        }
        return JSONResponse(accepted)

    path = f"/{GRAPH_VERSION}/{{phone_number_id}}/messages"
    return Starlette(routes=[Route(path, send_message, methods=["POST"])])


# --- A Standard Webhooks receiver --------------------------------------------------------


def signature_valid(headers: dict[str, str], body: bytes, *, secret: str) -> bool:
    """Standard Webhooks verification written from the spec with the stdlib alone,
    so the adapter's use of the library is checked against an independent reading."""
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    entries = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(entry, f"v1,{expected}") for entry in entries if entry.isascii())


def webhook_app(stub: ProviderStub) -> Starlette:
    """Any POST path; refuses an unverifiable signature with 401, like a careful receiver."""

    async def receive(request: Request) -> Response:
        seen = await stub.record(request)
        valid = signature_valid(seen.headers, seen.body, secret=WEBHOOK_SECRET)
        stub.verified.append(valid)
        if not valid:
            return JSONResponse({"detail": "bad signature"}, status_code=401)
        if stub.answer == "rate_limited":
            headers = {"Retry-After": stub.retry_after} if stub.retry_after else None
            return Response(status_code=stub.status or 429, headers=headers)
        if stub.answer == "down":
            return Response(status_code=stub.status or 503)
        if stub.answer == "refuse":
            return JSONResponse({"detail": "gone"}, status_code=stub.status or 410)
        if stub.answer == "hang":
            await stub.hang()
        return Response(status_code=stub.status or 204)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
