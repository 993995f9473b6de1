"""Posting to a provider's HTTP API, and what its answer means for the invitation.

The SMS, WhatsApp and webhook adapters share this so the rules that keep a customer
from getting the same survey twice live in one place:

- `handing_over()` is awaited once the connection is open, just before the request's
  first byte is written (httpcore's `send_request_headers.started` trace event): a
  provider that is down or refuses the connection never counts as a hand-over.
- A transport error before that point is a plain retry. After it — a read timeout, a
  dropped connection — the provider may have acted on the request, so the failure is
  `ambiguous` and the invitation must not be resent blindly.
- 2xx is accepted. 408, 429 and 5xx are retried, after `Retry-After` when the provider
  gave one. Any other status is permanent, unless the provider's own error code (in
  `ProviderErrors`) says a retry can succeed, or that it cannot.

Each send has its own client: adapters are built per send, and a pooled connection the
provider silently closed would turn a harmless retry into an ambiguous one. The TLS
context is shared, as building one (loading the CA bundle) costs more than the send.

A failure's detail names the provider, the status and the provider's error code, never
the URL (a webhook URL may carry a token), a header, the recipient or the message:
provider messages are dropped because they often repeat the phone number.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
from cxloop_shared.http import retry_after

from cxloop_dispatch.channels.base import HandingOver, SendFailed

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 20.0
MAX_ANSWER_BYTES = 256 * 1024
RETRYABLE_STATUSES = frozenset({408, 429})
JSON_CONTENT = {"Content-Type": "application/json"}
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def _no_code(_: Any) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class ProviderErrors:
    """How one provider's error answers read: where its error code is, and what it means.

    `code` takes the parsed JSON answer (None when not JSON). A code in `retryable`
    makes any refusal retryable (a rate limit sent as 400), one in `permanent` makes it
    final (a 5xx that a retry cannot fix). `reasons` are short descriptions for details.
    """

    provider: str
    code: Callable[[Any], str | None] = _no_code
    retryable: frozenset[str] = frozenset()
    permanent: frozenset[str] = frozenset()
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """`connect` bounds opening the connection; `total` bounds the whole exchange."""

    connect: float = CONNECT_TIMEOUT
    total: float = TOTAL_TIMEOUT


def error_code(value: object) -> str | None:
    """A provider error code fit for a log line: short, plain, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if _ERROR_CODE.match(text) else None


def refusal(
    status: int, document: Any, *, errors: ProviderErrors, wait: float | None = None
) -> SendFailed:
    """The failure a non-2xx answer means; `wait` is the answer's `Retry-After`."""
    code = errors.code(document)
    detail = f"{errors.provider}: HTTP {status}"
    if code is not None:
        detail += f", error {code}"
        if code in errors.reasons:
            detail += f" ({errors.reasons[code]})"
    if code is not None and code in errors.permanent:
        permanent = True
    elif code is not None and code in errors.retryable:
        permanent = False
    else:
        permanent = not (status in RETRYABLE_STATUSES or status >= 500)
    return SendFailed(detail, permanent=permanent, retry_after=None if permanent else wait)


@cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class _HandOver:
    """Awaits `handing_over()` when the request is about to be written, exactly once."""

    def __init__(self, handing_over: HandingOver) -> None:
        self._handing_over = handing_over
        self.done = False

    async def now(self) -> None:
        if not self.done:
            await self._handing_over()
            self.done = True

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # `http11.` or `http2.` prefix; through a tunnelling proxy the CONNECT comes
        # first, which only moves the hand-over earlier: the safe direction.
        if event.endswith("send_request_headers.started"):
            await self.now()


async def post(
    url: str,
    *,
    errors: ProviderErrors,
    handing_over: HandingOver,
    timeouts: Timeouts,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Any:
    """POST to the provider; its parsed JSON answer (None if not JSON) when it accepted.

    Raises `SendFailed` for everything else, classified as the module docstring says.
    """
    hand_over = _HandOver(handing_over)
    provider = errors.provider
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeouts.total, connect=timeouts.connect),
        follow_redirects=False,
        verify=_tls(),
    )
    try:
        async with asyncio.timeout(timeouts.total), client:
            request = client.build_request(
                "POST",
                url,
                headers=headers,
                data=form,
                content=content,
                extensions={"trace": hand_over.trace},
            )
            response = await client.send(request, auth=auth, stream=True)
            try:
                # Only if a transport ever stops tracing: late, but never skipped.
                await hand_over.now()
                body = await _read(response)
            finally:
                await response.aclose()
    except httpx.InvalidURL:
        # Not chained: the parser's message may quote the URL.
        raise SendFailed(f"{provider}: the configured URL is invalid", permanent=True) from None
    except httpx.UnsupportedProtocol as exc:
        raise SendFailed(f"{provider}: the URL's scheme is not http(s)", permanent=True) from exc
    except (httpx.TransportError, TimeoutError) as exc:
        raise _transport_failure(provider, exc, handed_over=hand_over.done) from exc
    document = _json(body)
    if 200 <= response.status_code < 300:
        return document
    wait = retry_after(response.headers.get("Retry-After"))
    raise refusal(response.status_code, document, errors=errors, wait=wait)


def _transport_failure(provider: str, exc: BaseException, *, handed_over: bool) -> SendFailed:
    kind = "timed out" if isinstance(exc, TimeoutError | httpx.TimeoutException) else "failed"
    name = type(exc).__name__
    if handed_over:
        detail = f"{provider}: {kind} after the request left ({name}); the provider may have it"
    else:
        detail = f"{provider}: {kind} before the request left ({name})"
    return SendFailed(detail, permanent=False, ambiguous=handed_over)


async def _read(response: httpx.Response) -> bytes:
    """The answer's body, up to `MAX_ANSWER_BYTES`: a receipt is small, a receiver's
    error page need not be."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk[: MAX_ANSWER_BYTES - len(body)]
        if len(body) >= MAX_ANSWER_BYTES:
            break
    return bytes(body)


def json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes sent, so a signature over them holds."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None
