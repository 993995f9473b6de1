"""The live stream's fan-out: events from Kafka to every open stream of their workspace.

The feed hands each event to `StreamHub.deliver`, which never waits: each stream has a
bounded queue, and a stream whose queue is full is dropped (its client gets a last
`overflow` frame and reconnects), so one slow dashboard never holds up the others or the
consumer. Streams are capped per workspace, and `metrics` hints are debounced per
touchpoint. All of it lives in one process: every gateway replica consumes every event
(see `feed`) and serves the streams opened on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

import structlog
from cxloop_shared.errors import CxloopError, Forbidden, NotFound, Unauthorized
from cxloop_shared.events import AlertRaised, CxEvent, ResponseRecorded
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_gateway.auth import Authenticator
from cxloop_gateway.stream.events import (
    HEARTBEAT,
    OPENING,
    alert_frame,
    closing_frame,
    metrics_frame,
    overflow_frame,
    response_frame,
)

log = structlog.get_logger(__name__)

OPEN_STREAMS = Gauge("cxloop_gateway_streams", "Live streams open on this gateway process")
DROPPED_STREAMS = Counter(
    "cxloop_gateway_streams_dropped_total", "Live streams dropped for falling behind"
)

StillAllowed = Callable[[], Awaitable[bool]]


class TooManyStreams(CxloopError):
    """The workspace already has as many live streams open here as it may."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(retry_after)


class Subscription:
    """One open stream: a bounded queue of frames, ended by a final frame."""

    def __init__(self, workspace_id: str, *, size: int) -> None:
        self.workspace_id = workspace_id
        self._size = size
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=size)
        self.ended = False

    def offer(self, frame: bytes) -> bool:
        """Queue `frame` without waiting; False (and the stream ended) if it is full."""
        if self.ended:
            return False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.end(overflow_frame(self._size))
            return False
        return True

    def end(self, last: bytes) -> None:
        """End the stream: whatever is queued is dropped and `last` is the final frame."""
        if self.ended:
            return
        self.ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(last)

    async def frames(
        self, *, heartbeat: float, still_allowed: StillAllowed, recheck_every: int
    ) -> AsyncGenerator[bytes, None]:
        """The body of the stream: frames as they come, a heartbeat when none do.

        Every `recheck_every` heartbeats the caller's key is checked again, so a revoked
        key does not keep a stream open.
        """
        yield OPENING
        quiet = 0
        while True:
            try:
                frame = await asyncio.wait_for(self._queue.get(), timeout=heartbeat)
            except TimeoutError:
                quiet += 1
                if quiet % recheck_every == 0 and not await still_allowed():
                    self.end(closing_frame())
                    continue
                yield HEARTBEAT
                continue
            yield frame
            if self.ended and self._queue.empty():
                return


class StreamHub:
    """Every open stream of this process, by workspace; `deliver` fans an event out."""

    def __init__(self, *, queue_size: int, per_workspace: int, metrics_delay: float) -> None:
        self._queue_size = queue_size
        self._per_workspace = per_workspace
        self._metrics_delay = metrics_delay
        self._streams: dict[str, set[Subscription]] = {}
        self._pending_metrics: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.live = False  # set by the feed while it consumes

    def subscribe(self, workspace_id: str) -> Subscription:
        """Open a stream for the workspace; TooManyStreams (429) past the cap."""
        streams = self._streams.setdefault(workspace_id, set())
        if len(streams) >= self._per_workspace:
            raise TooManyStreams(
                f"this workspace already has {self._per_workspace} live streams open here;"
                " close one (or share one per dashboard)",
                retry_after=30,
            )
        subscription = Subscription(workspace_id, size=self._queue_size)
        streams.add(subscription)
        OPEN_STREAMS.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a stream (its client left, or it ended); doing it twice is harmless."""
        streams = self._streams.get(subscription.workspace_id)
        if streams is None or subscription not in streams:
            return
        streams.discard(subscription)
        OPEN_STREAMS.dec()
        if not streams:
            del self._streams[subscription.workspace_id]

    def open_streams(self, workspace_id: str) -> int:
        """How many streams the workspace has open on this process."""
        return len(self._streams.get(workspace_id, ()))

    def deliver(self, event: CxEvent) -> None:
        """Hand an event to its workspace's streams (other events and workspaces: nothing)."""
        if event.workspace_id not in self._streams:
            return
        if isinstance(event, ResponseRecorded):
            self._publish(event.workspace_id, response_frame(event))
            self._hint_metrics(event.workspace_id, event.touchpoint)
        elif isinstance(event, AlertRaised):
            self._publish(event.workspace_id, alert_frame(event))

    def close(self) -> None:
        """End every stream (the gateway stops, or the feed lost Kafka) and drop the hints."""
        for handle in self._pending_metrics.values():
            handle.cancel()
        self._pending_metrics.clear()
        for streams in list(self._streams.values()):
            for subscription in list(streams):
                subscription.end(closing_frame())
                self.unsubscribe(subscription)

    def _publish(self, workspace_id: str, frame: bytes) -> None:
        for subscription in list(self._streams.get(workspace_id, ())):
            if not subscription.offer(frame):
                DROPPED_STREAMS.inc()
                log.info("stream.dropped_slow_client", workspace_id=workspace_id)
                self.unsubscribe(subscription)

    def _hint_metrics(self, workspace_id: str, touchpoint: str) -> None:
        # One hint per touchpoint per delay, sent at its end: a burst of answers is one
        # re-read, and scoring (consuming the same answers) has had time to roll them up.
        key = (workspace_id, touchpoint)
        if key in self._pending_metrics:
            return
        loop = asyncio.get_running_loop()
        self._pending_metrics[key] = loop.call_later(self._metrics_delay, self._send_hint, key)

    def _send_hint(self, key: tuple[str, str]) -> None:
        del self._pending_metrics[key]
        workspace_id, touchpoint = key
        self._publish(workspace_id, metrics_frame(touchpoint))


def key_recheck(
    *,
    sessions: async_sessionmaker[AsyncSession],
    authenticator: Authenticator,
    token: str,
    workspace_header: str | None,
) -> StillAllowed:
    """Whether the stream's key may still read the workspace (not revoked, scope kept)."""

    async def still_allowed() -> bool:
        try:
            async with sessions() as session, session.begin():
                await authenticator.authenticate(
                    session, token=token, workspace_id=workspace_header, scope="metrics:read"
                )
        except (Unauthorized, Forbidden, NotFound):
            return False
        except Exception as exc:
            # The database (or the key's rate limit) is no reason to cut a dashboard off.
            log.warning("stream.recheck_failed", error=repr(exc)[:200])
        return True

    return still_allowed


async def stream_body(
    hub: StreamHub,
    subscription: Subscription,
    *,
    heartbeat: float,
    still_allowed: StillAllowed,
    recheck_every: int,
) -> AsyncIterator[bytes]:
    """The response body of a stream; the hub forgets the stream however it ends."""
    try:
        async for frame in subscription.frames(
            heartbeat=heartbeat, still_allowed=still_allowed, recheck_every=recheck_every
        ):
            yield frame
    finally:
        hub.unsubscribe(subscription)
