"""The batch handler against a real Postgres: answers, revisions, redeliveries, invitations."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from cxloop_scoring.handlers import ScoringHandler
from cxloop_scoring.rollups import histogram_of
from cxloop_shared.events import ResponseRecorded
from scoring_support import T0, deliveries, invitation, response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(engine: AsyncEngine, workspace_id: str) -> Snapshot:
    """Every scoring row of the workspace, in a stable order."""
    # Ordered by every selected column, so rows alike in their first columns keep an order.
    queries = {
        "rollups": "select touchpoint, metric, channel, bucket, counts from scoring.rollups",
        "answers": "select response_id, revision, score, answered_at from scoring.answers",
        "revisions": "select response_id, revision, score from scoring.answer_revisions",
        "sent": "select invitation_id, metric, channel from scoring.invitations_sent",
        "sent_rollups": (
            "select touchpoint, metric, channel, bucket, sent from scoring.sent_rollups"
        ),
    }
    orders = {"rollups": "1, 2, 3, 4", "answers": "1, 2", "sent_rollups": "1, 2, 3, 4"}
    found: Snapshot = {}
    async with engine.connect() as connection:
        for name, query in queries.items():
            order = orders.get(name, "1, 2, 3")
            rows = await connection.execute(
                text(f"{query} where workspace_id = :w order by {order}"), {"w": workspace_id}
            )
            found[name] = [tuple(row) for row in rows]
    return found


async def test_new_answers_are_kept_and_counted_in_their_buckets(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    later = T0 + timedelta(minutes=20)  # the next-but-one bucket: 07:15
    await handle(
        [
            response(workspace_id, "r1", 10),
            response(workspace_id, "r2", 10, answered_at=T0 + timedelta(minutes=14)),
            response(workspace_id, "r3", 3, answered_at=later),
            response(workspace_id, "r4", 5, metric="csat", channel=None),
        ]
    )
    found = await snapshot(engine, workspace_id)
    assert found["rollups"] == [
        ("checkout", "csat", "", T0, histogram_of([5])),
        ("checkout", "nps", "web", T0, histogram_of([10, 10])),
        ("checkout", "nps", "web", T0 + timedelta(minutes=15), histogram_of([3])),
    ]
    assert [row[:3] for row in found["answers"]] == [
        ("r1", 1, 10),
        ("r2", 1, 10),
        ("r3", 1, 3),
        ("r4", 1, 5),
    ]
    assert len(found["revisions"]) == 4


async def test_a_revision_moves_the_answer_and_keeps_the_old_revision(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    later = T0 + timedelta(hours=2)
    await handle([response(workspace_id, "r1", 3), response(workspace_id, "r2", 9)])
    await handle([response(workspace_id, "r1", 10, revision=2, answered_at=later)])
    found = await snapshot(engine, workspace_id)
    assert found["rollups"] == [
        ("checkout", "nps", "web", T0, histogram_of([9])),
        ("checkout", "nps", "web", later, histogram_of([10])),
    ]
    assert found["answers"] == [("r1", 2, 10, later), ("r2", 1, 9, T0)]
    assert found["revisions"] == [("r1", 1, 3), ("r1", 2, 10), ("r2", 1, 9)]


async def test_an_older_revision_arriving_late_changes_nothing(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await handle([response(workspace_id, "r1", 8, revision=2)])
    before = await snapshot(engine, workspace_id)
    await handle([response(workspace_id, "r1", 0, revision=1)])
    after = await snapshot(engine, workspace_id)
    assert after["rollups"] == before["rollups"]
    assert after["answers"] == before["answers"]
    assert after["revisions"] == [("r1", 1, 0), ("r1", 2, 8)]  # kept, but not counted


async def test_a_redelivered_batch_changes_nothing(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    sent = uuid.uuid4()
    batch = [
        response(workspace_id, "r1", 6),
        response(workspace_id, "r1", 9, revision=2),
        response(workspace_id, "r2", 7),
        invitation(workspace_id, sent),
    ]
    await handle(batch)
    first = await snapshot(engine, workspace_id)
    await handle(batch)
    await handle(list(reversed(batch)))
    assert await snapshot(engine, workspace_id) == first
    assert first["rollups"] == [("checkout", "nps", "web", T0, histogram_of([9, 7]))]
    assert first["sent_rollups"] == [("checkout", "nps", "email", T0, 1)]


async def test_an_invitation_counts_once_and_only_when_sent(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    one, two, scheduled = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await handle(
        [
            invitation(workspace_id, one, "scheduled"),
            invitation(workspace_id, one),
            invitation(workspace_id, one),  # a reminder, or a redelivery: still one invitation
            invitation(workspace_id, two, changed_at=T0 + timedelta(minutes=16)),
            invitation(workspace_id, scheduled, "scheduled"),
            invitation(workspace_id, uuid.uuid4(), "suppressed", reason="fatigue"),
        ]
    )
    await handle([invitation(workspace_id, two)])
    found = await snapshot(engine, workspace_id)
    assert found["sent_rollups"] == [
        ("checkout", "nps", "email", T0, 1),
        ("checkout", "nps", "email", T0 + timedelta(minutes=15), 1),
    ]
    assert sorted(row[0] for row in found["sent"]) == sorted([one, two])


async def test_an_invitation_without_a_metric_takes_its_touchpoints_survey_metric(
    handle: Any, engine: AsyncEngine, configure: Any, workspace_id: str
) -> None:
    await configure(
        workspace_id,
        touchpoints={
            "ticket_closed": {"survey": "csat_support", "policy": {"channels": ["preferred"]}}
        },
        surveys={"csat_support": {"metric": "csat", "question": {"en": "How satisfied?"}}},
    )
    await handle(
        [
            invitation(workspace_id, uuid.uuid4(), touchpoint="ticket_closed", metric=None),
            invitation(workspace_id, uuid.uuid4(), touchpoint="unmeasured", metric=None),
        ]
    )
    found = await snapshot(engine, workspace_id)
    assert [row[:3] for row in found["sent_rollups"]] == [
        ("ticket_closed", "csat", "email"),
        ("unmeasured", "", "email"),
    ]


async def test_answers_of_several_workspaces_in_one_batch_stay_apart(
    handle: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    other = f"{workspace_id}-other"
    events: list[ResponseRecorded] = [
        response(workspace_id, "r1", 10),
        response(other, "r1", 0),
    ]
    await handle(events)
    assert (await snapshot(engine, workspace_id))["rollups"][0][4] == histogram_of([10])
    assert (await snapshot(engine, other))["rollups"][0][4] == histogram_of([0])


async def test_consumers_handling_overlapping_batches_at_once_count_each_answer_once(
    handler: ScoringHandler, engine: AsyncEngine, workspace_id: str
) -> None:
    # Around a rebalance the old and the new owner of a partition may both handle it,
    # and their batches need not line up: here one has the first revisions, another the
    # second ones, a third both, and no response is known yet.
    first = [response(workspace_id, f"r{i}", i % 11) for i in range(30)]
    second = [response(workspace_id, f"r{i}", 10, revision=2) for i in range(0, 30, 3)]
    await asyncio.gather(
        handler(deliveries(first)),
        handler(deliveries(second)),
        handler(deliveries(list(reversed(first + second)))),
    )
    (rollup,) = (await snapshot(engine, workspace_id))["rollups"]
    assert rollup[4] == histogram_of([10 if i % 3 == 0 else i % 11 for i in range(30)])
