"""What a caller may ask of the gateway: requests per key per second, and bytes per request.

Both limits are kept in process: each gateway replica limits on its own, so with N
replicas behind a load balancer a key gets up to N times its rate. That is the price of
needing no shared store on the request path; a key that must be held to an exact global
rate needs the limit at the load balancer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cxloop_shared.errors import CxloopError
from cxloop_shared.http import problem
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxloop_gateway.auth import WORKSPACE_HEADER

Clock = Callable[[], float]
# Buckets of keys that went quiet are dropped once there are this many (a full bucket
# and no bucket are the same thing, so dropping one forgets nothing).
_PRUNE_ABOVE = 10_000


class RateLimited(CxloopError):
    """The key spent its burst; `Retry-After` says when its next request will pass."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        # Whole seconds, at least one: clients that sleep Retry-After never retry early.
        self.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))


@dataclass
class TokenBucket:
    """Holds up to `burst` tokens, refilled at `per_second`; each request takes one."""

    per_second: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token at `now`: 0.0 if one was there, else the seconds until one will be."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.per_second)
        self.updated = max(self.updated, now)
        # The tolerance keeps float rounding from refusing a request that Retry-After said
        # would pass.
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        return (1.0 - self.tokens) / self.per_second

    def is_full(self, now: float) -> bool:
        """Whether the bucket has refilled completely by `now`."""
        elapsed = max(0.0, now - self.updated)
        return self.tokens + elapsed * self.per_second >= self.burst


class RateLimiter:
    """One token bucket per API key (by key id; the admin token has one of its own)."""

    def __init__(self, *, per_second: float, burst: int, clock: Clock = time.monotonic) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def admit(self, key_id: str) -> None:
        """Let one request of `key_id` through, or raise RateLimited with when to retry."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            self._prune(now)
            bucket = TokenBucket(self.per_second, self.burst, float(self.burst), now)
            self._buckets[key_id] = bucket
        wait = bucket.take(now)
        if wait > 0:
            raise RateLimited(
                f"this key is limited to {self.per_second:g} requests per second "
                f"(bursts of {self.burst}); retry after the Retry-After delay",
                retry_after=wait,
            )

    def _prune(self, now: float) -> None:
        if len(self._buckets) < _PRUNE_ABOVE:
            return
        for key_id in [k for k, bucket in self._buckets.items() if bucket.is_full(now)]:
            del self._buckets[key_id]


class BodyTooLarge(CxloopError):
    """Raised into the app when a streamed body passes the limit (BodySizeLimit answers)."""

    status = 413
    title = "Payload too large"


class BodySizeLimit:
    """ASGI middleware answering 413 for a request body over `limit` bytes, on every route.

    A declared Content-Length over the limit is refused before the app runs; a body sent
    without one (chunked) is counted as the app reads it, and refused the moment it passes
    the limit, whatever the app was about to answer.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise BodyTooLarge(f"the request body is over the {self.limit}-byte limit")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app answers to the aborted read (FastAPI calls it a 400) is dropped.
            if exceeded and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413, "Payload too large", f"the request body is over the {self.limit}-byte limit"
        )
        await response(scope, receive, send)


def install_request_limits(
    app: FastAPI, *, body_limit_bytes: int, cors_origins: Sequence[str]
) -> None:
    """Cap request bodies on every route and let the configured dashboard origins call in.

    CORS wraps the body cap, so even a 413 or a 429 carries the headers a browser needs to
    show the caller the problem instead of an opaque network error.
    """
    app.add_middleware(BodySizeLimit, limit=body_limit_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=["GET", "PUT", "POST", "DELETE", "PATCH"],
        allow_headers=["Authorization", "Content-Type", WORKSPACE_HEADER],
        expose_headers=["Retry-After"],
        # Keys travel in Authorization, never in cookies: no credentialed requests.
        allow_credentials=False,
        max_age=600,
    )
