"""A customer as the gateway serves them: dispatch's profile and decisions merged with
scoring's touchpoints and answers into one timeline; and what an erasure request does."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from cxloop_shared.customers import (
    CustomerView,
    DispatchCustomer,
    ErasureAccepted,
    ScoringTimeline,
    TimelineEntry,
)
from cxloop_shared.errors import NotFound

from cxloop_gateway.scoring import ScoringClient, UpstreamProblem

# Moments at the same instant read in the order they happen.
_ORDER = {"touchpoint": 0, "decision": 1, "answer": 2}

WHAT_HAPPENS = [
    "dispatch clears the customer's profile (email, phone, locale, time zone, preferred "
    "channel, persona), cancels their pending invitations (reason `erased`) and surveys "
    "them no more; a later touchpoint brings nothing back",
    "scoring drops their comments and alert notes, strips contact details, identifiers "
    "and free text from the touchpoint attributes and alert snapshots it keeps, files "
    "their answers under a random pseudonym instead of the customer id, and cancels "
    "webhooks about them not sent yet",
    "ingest forgets the addresses it kept to match their SMS replies",
    "metrics do not change: every score and count stays in the rollups",
]


def path_segment(value: str) -> str:
    """`value` as one URL path segment: slashes and dots encoded too, so no id is read as
    a path of its own (`a/b`) or folded away as a dot segment (`..`)."""
    return quote(value, safe="").replace(".", "%2E")


def merge_timeline(
    dispatch: DispatchCustomer | None, scoring: ScoringTimeline, *, limit: int
) -> tuple[list[TimelineEntry], bool]:
    """Touchpoints, decisions and answers oldest first, the newest `limit` of them; and
    whether any were left out (here or by a service)."""
    entries = [
        TimelineEntry(at=seen.occurred_at, kind="touchpoint", touchpoint=seen)
        for seen in scoring.touchpoints
    ]
    decisions = dispatch.decisions if dispatch is not None else []
    entries += [
        TimelineEntry(at=decision.decided_at, kind="decision", decision=decision)
        for decision in decisions
    ]
    entries += [
        TimelineEntry(at=answer.answered_at, kind="answer", answer=answer)
        for answer in scoring.answers
    ]
    entries.sort(key=lambda entry: (entry.at, _ORDER[entry.kind]))
    truncated = len(entries) > limit or scoring.truncated
    truncated = truncated or (dispatch is not None and dispatch.truncated)
    return entries[-limit:], truncated


async def customer_view(
    *,
    dispatch: ScoringClient,
    scoring: ScoringClient,
    workspace_id: str,
    customer_id: str,
    limit: int,
) -> CustomerView:
    """The customer of the workspace, from both services; NotFound if neither knows them."""
    query = {"limit": str(limit)}
    segment = path_segment(customer_id)
    try:
        known: DispatchCustomer | None = await dispatch.read(
            DispatchCustomer,
            f"/internal/v1/customers/{segment}",
            workspace_id=workspace_id,
            query=query,
        )
    except UpstreamProblem as problem:
        if problem.status != 404:
            raise
        known = None  # e.g. answers collected by API for a customer no touchpoint named
    timeline = await scoring.read(
        ScoringTimeline,
        f"/internal/v1/customers/{segment}/timeline",
        workspace_id=workspace_id,
        query=query,
    )
    if known is None and not timeline.touchpoints and not timeline.answers:
        raise NotFound(f"no customer {customer_id!r} in this workspace")
    entries, truncated = merge_timeline(known, timeline, limit=limit)
    profile = known.profile if known is not None else None
    erased_at = profile.erased_at if profile is not None else None
    return CustomerView(
        workspace_id=workspace_id,
        customer_id=customer_id,
        profile=profile,
        erased=erased_at is not None,
        erased_at=erased_at,
        timeline=entries,
        truncated=truncated,
    )


def erasure_accepted(*, workspace_id: str, customer_id: str, at: datetime) -> ErasureAccepted:
    """What the caller is told once the erasure request is durable."""
    return ErasureAccepted(
        workspace_id=workspace_id,
        customer_id=customer_id,
        requested_at=at,
        what_happens=WHAT_HAPPENS,
        check=f"GET /v1/customers/{path_segment(customer_id)} shows `erased_at` once applied",
    )
