"""The webhook delivery worker: due deliveries → signed POSTs → the delivery log.

Deliveries are claimed with `FOR UPDATE SKIP LOCKED`, so every scoring process can run
a worker. Each attempt signs the stored body anew (Standard Webhooks, with the
attempt's own timestamp, so a late retry is not refused as stale), reads the
endpoint's URL and secret from the configuration at that moment, and records what
happened. A 2xx delivers; anything else, a timeout or a refused connection is retried
with exponential backoff and jitter (`webhooks.next_attempt_at`), after `Retry-After`
when the endpoint gave one, until the attempts run out and the delivery is `failed`.
An endpoint removed from the configuration fails its deliveries at once.

Delivery is at least once: a worker that dies after the POST but before recording it
leaves the delivery to be sent again with the same `webhook-id`. Logs name the
delivery, the endpoint and the status, never a URL (it may carry a token), a secret
or a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from datetime import UTC, datetime, timedelta
from functools import cache

import httpx
import structlog
from cxloop_shared.config import ConfigCache, EndpointConfig
from cxloop_shared.db import transaction
from cxloop_shared.events import utcnow
from cxloop_shared.http import retry_after
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_scoring import alert_repository
from cxloop_scoring.alert_repository import DueDelivery
from cxloop_scoring.settings import Settings
from cxloop_scoring.webhooks import (
    AttemptResult,
    InvalidSecret,
    RetryPolicy,
    next_attempt_at,
    signed_headers,
)

log = structlog.get_logger(__name__)

ATTEMPTS = Counter(
    "cxloop_webhook_attempts_total", "Outbound webhook attempts by outcome", ["outcome"]
)
CONNECT_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 16 * 1024  # an endpoint's answer is read (to reuse the connection), not kept


@cache
def _tls() -> ssl.SSLContext:
    # Building a context loads the CA bundle: once per process, not per batch.
    return httpx.create_ssl_context()


class DeliveryWorker:
    """Posts due webhook deliveries until stopped."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        configs: ConfigCache,
        settings: Settings,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._configs = configs
        self._settings = settings
        self._rng = rng or random.Random()
        self._policy = RetryPolicy(
            base=timedelta(seconds=settings.delivery_retry_base_seconds),
            cap=timedelta(seconds=settings.delivery_retry_cap_seconds),
            max_attempts=settings.delivery_max_attempts,
        )
        self._slots = asyncio.Semaphore(settings.delivery_concurrency)

    async def run(self, stopping: asyncio.Event) -> None:
        """Work until `stopping` is set; a failing round is logged and retried."""
        while not stopping.is_set():
            try:
                claimed = await self.deliver_due()
            except Exception as exc:
                log.warning("webhooks.round_failed", error=repr(exc)[:300])
                claimed = 0
            if claimed < self._settings.delivery_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        stopping.wait(), timeout=self._settings.delivery_poll_seconds
                    )

    async def deliver_due(self) -> int:
        """Claim the due deliveries, attempt each once; return how many were claimed."""
        lease = timedelta(seconds=self._settings.delivery_lease_seconds)
        async with transaction(self._sessions) as session:
            claimed = await alert_repository.claim_deliveries(
                session, now=utcnow(), limit=self._settings.delivery_batch, lease=lease
            )
        if not claimed:
            return 0
        timeout = httpx.Timeout(self._settings.delivery_timeout_seconds, connect=CONNECT_TIMEOUT)
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, verify=_tls()
        ) as client:
            await asyncio.gather(*(self._attempt(client, delivery) for delivery in claimed))
        return len(claimed)

    async def _attempt(self, client: httpx.AsyncClient, delivery: DueDelivery) -> None:
        attempted_at = utcnow()
        config = await self._configs.get(delivery.workspace_id)
        endpoint = config.endpoints.get(delivery.endpoint) if config else None
        if endpoint is None:
            result = AttemptResult(None, "endpoint_not_configured", 0, permanent=True)
        else:
            async with self._slots:
                result = await self._post(client, endpoint, delivery)
        now = utcnow()
        retry_at = next_attempt_at(
            delivery.attempt, result, now=now, policy=self._policy, rng=self._rng
        )
        async with transaction(self._sessions) as session:
            outcome = await alert_repository.record_attempt(
                session,
                delivery=delivery,
                result=result,
                attempted_at=attempted_at,
                retry_at=retry_at,
                now=now,
            )
        ATTEMPTS.labels(outcome).inc()
        log.info(
            "webhooks.attempted",
            outcome=outcome,
            delivery_id=delivery.id,
            workspace_id=delivery.workspace_id,
            endpoint=delivery.endpoint,
            event_type=delivery.event_type,
            attempt=delivery.attempt,
            status_code=result.status_code,
            error=result.error,
        )

    async def _post(
        self, client: httpx.AsyncClient, endpoint: EndpointConfig, delivery: DueDelivery
    ) -> AttemptResult:
        """One signed POST of the delivery's body; what the endpoint made of it."""
        try:
            headers = signed_headers(
                endpoint.secret.get_secret_value(),
                message_id=delivery.message_id,
                body=delivery.body,
                at=datetime.now(UTC),  # the receiver's clock, not a moved test clock
            )
        except InvalidSecret as exc:
            return AttemptResult(None, str(exc), 0, permanent=True)
        started = time.perf_counter()

        def elapsed_ms() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            async with (
                asyncio.timeout(self._settings.delivery_timeout_seconds),
                client.stream(
                    "POST", endpoint.url, content=delivery.body.encode(), headers=headers
                ) as response,
            ):
                await _read_some(response)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            # Not chained, nor quoted: the parser's message may repeat the URL.
            return AttemptResult(None, "the endpoint URL is invalid", elapsed_ms(), permanent=True)
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(None, "timed out", elapsed_ms())
        except httpx.HTTPError as exc:
            return AttemptResult(None, f"{type(exc).__name__}", elapsed_ms())
        status = response.status_code
        delivered = 200 <= status < 300
        return AttemptResult(
            status_code=status,
            error=None if delivered else f"HTTP {status}",
            duration_ms=elapsed_ms(),
            retry_after=retry_after(response.headers.get("retry-after"), now=datetime.now(UTC)),
        )


async def _read_some(response: httpx.Response) -> None:
    """Read the answer up to `MAX_ANSWER_BYTES`: a receipt is small, an error page need not be."""
    received = 0
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if received >= MAX_ANSWER_BYTES:
            break
