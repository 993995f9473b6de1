"""Rollup arithmetic: 15-minute buckets, score histograms, and how a revision moves an answer.

A rollup is the score histogram of one (workspace, touchpoint, metric, channel, persona,
bucket). Buckets are 15 minutes of UTC so that every time zone's hour, day, week and
month boundaries (30- and 45-minute offsets included) fall exactly on bucket edges.
Everything here is pure: the handler loads, calls `revise`, and writes what it returns.

Every key part is stamped on the raw row (the answer, the invitation sent) when it is
recorded, so the rollups are always a function of the raw rows and can be rebuilt
from them exactly (`rebuild.py`). The persona is the customer's persona on the
touchpoint the invitation was sent for, as scoring knew it when recording ('' when
it was unknown: an answer without an invitation, or a touchpoint not consumed yet).
A touchpoint's journey stage is not a key: it is resolved from the configuration at
query time, so a re-staged touchpoint moves whole, its history included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from cxloop_shared.events import CXI_ITEMS, CxiItems, InvitationChanged, Metric, ResponseRecorded

from cxloop_scoring.metrics import cxi_index

BUCKET = timedelta(minutes=15)
SCORES = 11  # histogram index = score 0..10

Histogram = list[int]
ResponseKey = tuple[str, str]  # (workspace_id, response_id)


def bucket_of(moment: datetime) -> datetime:
    """The start of the 15-minute UTC bucket that holds `moment` (which must be aware)."""
    if moment.tzinfo is None:
        raise ValueError("bucket_of needs an aware datetime")
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def bucket_after(moment: datetime) -> datetime:
    """The first bucket edge at or after `moment`: the end of a window that includes it."""
    start = bucket_of(moment)
    return start if start == moment else start + BUCKET


def empty_histogram() -> Histogram:
    """A histogram with no answers."""
    return [0] * SCORES


def histogram_of(scores: Iterable[int]) -> Histogram:
    """The histogram of a list of scores."""
    histogram = empty_histogram()
    for score in scores:
        histogram[score] += 1
    return histogram


def add_histograms(left: Sequence[int], right: Sequence[int]) -> Histogram:
    """Element-wise sum; a delta histogram may hold negative counts."""
    return [a + b for a, b in zip(left, right, strict=True)]


@dataclass(frozen=True, slots=True, order=True)
class RollupKey:
    """Which rollup row an answer (or an invitation sent) counts in."""

    workspace_id: str
    touchpoint: str
    # '' when unknown (an invitation whose metric nobody could tell) or absent (no
    # channel): these are primary-key columns, so never null. `cxi.<item>` for the 1-5
    # histogram of one CX Index item.
    metric: str
    channel: str
    bucket: datetime
    persona: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """One revision of a customer's answer, as scoring keeps it."""

    workspace_id: str
    response_id: str
    revision: int
    touchpoint: str
    metric: Metric
    score: int
    answered_at: datetime
    customer_id: str
    survey: str | None = None
    channel: str | None = None
    comment: str | None = None
    invitation_id: UUID | None = None
    # The persona of the customer on the invitation's touchpoint; '' when unknown.
    persona: str = ""
    # A CX Index answer's three items, 1-5 each.
    items: CxiItems | None = None

    @classmethod
    def from_event(cls, event: ResponseRecorded) -> Answer:
        """The answer a ResponseRecorded event carries (its persona is stamped on recording)."""
        return cls(
            workspace_id=event.workspace_id,
            response_id=event.response_id,
            revision=event.revision,
            touchpoint=event.touchpoint,
            metric=event.metric,
            score=event.score,
            answered_at=event.answered_at,
            customer_id=event.customer_id,
            survey=event.survey,
            channel=event.channel,
            comment=event.comment,
            invitation_id=event.invitation_id,
            items=event.items,
        )

    @property
    def key(self) -> ResponseKey:
        """The response this answer is a revision of."""
        return (self.workspace_id, self.response_id)

    def _key(self, metric: str) -> RollupKey:
        return RollupKey(
            workspace_id=self.workspace_id,
            touchpoint=self.touchpoint,
            metric=metric,
            channel=self.channel or "",
            bucket=bucket_of(self.answered_at),
            persona=self.persona,
        )

    @property
    def rollup_key(self) -> RollupKey:
        """The rollup row this answer's score counts in."""
        return self._key(self.metric)

    def counts(self) -> list[tuple[RollupKey, int]]:
        """Each rollup row this answer counts in, and at which histogram index: its score;
        a CX Index answer at `cxi_index` of its items, and each item in `cxi.<item>`."""
        if self.metric != "cxi":
            return [(self.rollup_key, self.score)]
        if self.items is None:
            return []  # answered before CX Index items existed: nothing to count
        return [
            (self.rollup_key, cxi_index(self.items)),
            *((self._key(f"cxi.{item}"), self.items[item]) for item in CXI_ITEMS),
        ]


@dataclass(slots=True)
class Revisions:
    """What a batch of answers changes: the new latest answers and the rollup deltas.

    `advanced` are the answers that moved their response forward, in arrival order:
    what alerts and webhooks are about, whichever way the answers were batched.
    """

    latest: list[Answer] = field(default_factory=list)
    deltas: dict[RollupKey, Histogram] = field(default_factory=dict)
    advanced: list[Answer] = field(default_factory=list)


def revise(*, stored: Mapping[ResponseKey, Answer], incoming: Sequence[Answer]) -> Revisions:
    """Apply `incoming` answers, in order, over the `stored` latest answer of each response.

    A new response adds one to its bucket's score (a CX Index answer to each of its
    `counts`). A higher revision takes the old answer out of its bucket and puts the
    new one in. A redelivered or older revision
    changes nothing. Several answers for one response, or one rollup, in the same
    batch fold into one latest answer and one delta per rollup.
    """
    current = dict(stored)
    changed: set[ResponseKey] = set()
    advanced: list[Answer] = []
    deltas: dict[RollupKey, Histogram] = {}
    for answer in incoming:
        previous = current.get(answer.key)
        if previous is not None and answer.revision <= previous.revision:
            continue
        if previous is not None:
            for key, index in previous.counts():
                deltas.setdefault(key, empty_histogram())[index] -= 1
        for key, index in answer.counts():
            deltas.setdefault(key, empty_histogram())[index] += 1
        current[answer.key] = answer
        changed.add(answer.key)
        advanced.append(answer)
    return Revisions(
        latest=[current[key] for key in sorted(changed)],
        deltas={key: delta for key, delta in sorted(deltas.items()) if any(delta)},
        advanced=advanced,
    )


@dataclass(frozen=True, slots=True)
class SentInvitation:
    """An invitation that went out: the denominator of the response rate."""

    workspace_id: str
    invitation_id: UUID
    touchpoint: str
    metric: Metric | Literal[""]
    channel: str
    sent_at: datetime
    persona: str = ""

    @classmethod
    def from_event(
        cls, event: InvitationChanged, *, metric: Metric | None, persona: str = ""
    ) -> SentInvitation:
        """The invitation a `sent` InvitationChanged event reports, measuring `metric`,
        sent to a customer of `persona`."""
        return cls(
            workspace_id=event.workspace_id,
            invitation_id=event.invitation_id,
            touchpoint=event.touchpoint,
            metric=metric or "",
            channel=event.channel or "",
            sent_at=event.changed_at,
            persona=persona,
        )

    @property
    def rollup_key(self) -> RollupKey:
        """The sent-rollup row this invitation counts in."""
        return RollupKey(
            workspace_id=self.workspace_id,
            touchpoint=self.touchpoint,
            metric=self.metric,
            channel=self.channel,
            bucket=bucket_of(self.sent_at),
            persona=self.persona,
        )


def sent_counts(invitations: Iterable[SentInvitation]) -> dict[RollupKey, int]:
    """How many of `invitations` each sent-rollup row gains."""
    counts: dict[RollupKey, int] = {}
    for invitation in invitations:
        counts[invitation.rollup_key] = counts.get(invitation.rollup_key, 0) + 1
    return dict(sorted(counts.items()))
