"""Group commit: accepted touchpoints from concurrent requests become durable together.

Every request that accepts touchpoints hands them to one writer per process and
waits. The writer takes everything that queued up while the previous commit was
running and writes it in one transaction: one dedupe insert, one outbox insert,
one commit (one fsync) for all of them. Under load this turns a commit per
request into a commit per batch; with a single request in flight it is a plain
commit with no added wait. A request is answered only after its batch committed,
so a 2xx still means durable.

Because one writer assigns outbox ids in the order requests arrived, a customer's
touchpoints reach Kafka in the order they were accepted. The writer runs outside the
requests, so each submission brings its request's trace context for its events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import cxloop_shared.topics as topics
import structlog
from cxloop_shared import tracing
from cxloop_shared.db import transaction
from cxloop_shared.events import Touchpoint, TouchpointReceived, utcnow
from cxloop_shared.outbox import Outbox
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_ingest import repository

log = structlog.get_logger(__name__)

GROUP_SIZE = Histogram(
    "cxloop_ingest_group_commit_items",
    "Touchpoints made durable per group commit",
    buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 5000),
)
TOUCHPOINTS = Counter(
    "cxloop_ingest_touchpoints_total", "Touchpoints submitted, by result", ["result"]
)


@dataclass(frozen=True, slots=True)
class Accepted:
    """How many items were new and how many were duplicates."""

    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Submission:
    workspace_id: str
    source: str
    touchpoints: Sequence[Touchpoint]
    trace: tracing.TraceHeaders = field(default_factory=tracing.trace_headers)
    done: asyncio.Future[Accepted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Intake:
    """The single writer of accepted touchpoints in this process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        *,
        max_group_items: int = 5000,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._max = max_group_items
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()

    async def submit(
        self, *, workspace_id: str, source: str, touchpoints: Sequence[Touchpoint]
    ) -> Accepted:
        """Make `touchpoints` durable (or recognise them as duplicates); wait for the commit.

        Raises whatever the commit raised (a database outage among them).
        """
        submission = _Submission(workspace_id, source, touchpoints)
        self._queue.put_nowait(submission)
        # Shielded: a client that hangs up does not cancel a commit others share.
        return await asyncio.shield(submission.done)

    async def run(self, stopping: asyncio.Event) -> None:
        """Commit queued submissions in groups until stopped and drained."""
        while not (stopping.is_set() and self._queue.empty()):
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            group = [first]
            items = len(first.touchpoints)
            while items < self._max and not self._queue.empty():
                submission = self._queue.get_nowait()
                group.append(submission)
                items += len(submission.touchpoints)
            await self._commit(group)

    async def _commit(self, group: list[_Submission]) -> None:
        try:
            async with transaction(self._sessions) as session:
                results = await _write(session, self._outbox, group)
        except Exception as exc:
            log.warning(
                "intake.commit_failed",
                submissions=len(group),
                event_ids=[t.id for s in group for t in s.touchpoints],
                error=repr(exc)[:300],
            )
            for submission in group:
                if not submission.done.done():
                    submission.done.set_exception(exc)
            return
        GROUP_SIZE.observe(sum(len(s.touchpoints) for s in group))
        TOUCHPOINTS.labels("accepted").inc(sum(r.accepted for r in results))
        TOUCHPOINTS.labels("duplicate").inc(sum(r.duplicates for r in results))
        for submission, result in zip(group, results, strict=True):
            if not submission.done.done():
                submission.done.set_result(result)


async def _write(
    session: AsyncSession, outbox: Outbox, group: Sequence[_Submission]
) -> list[Accepted]:
    keys = [(s.workspace_id, s.source, t.id) for s in group for t in s.touchpoints]
    fresh = await repository.remember_events(session, keys)
    received_at = utcnow()
    queued: list[tuple[str, TouchpointReceived]] = []
    trace: list[tracing.TraceHeaders] = []
    results: list[Accepted] = []
    for submission in group:
        accepted = 0
        for touchpoint in submission.touchpoints:
            key = (submission.workspace_id, submission.source, touchpoint.id)
            if key not in fresh:
                continue
            fresh.discard(key)  # the same id twice counts once, for whoever sent it first
            accepted += 1
            event = TouchpointReceived(
                workspace_id=submission.workspace_id,
                source=submission.source,
                received_at=received_at,
                event=touchpoint,
            )
            queued.append((topics.TOUCHPOINTS, event))
            trace.append(submission.trace)
        results.append(Accepted(accepted, len(submission.touchpoints) - accepted))
    await outbox.add(session, queued, trace=trace)
    return results
