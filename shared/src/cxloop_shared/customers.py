"""The customer and event-trace read models: what dispatch's and scoring's internal APIs
answer, and what the gateway serves as `GET /v1/customers/{id}`, `DELETE
/v1/customers/{id}` and `GET /v1/events/{id}/trace`.

Dispatch owns the profile and the decisions (one invitation per touchpoint event, with
its reason); scoring owns what touchpoints said and the answers. These are the shapes
both sides validate, so the gateway never passes on a document it does not understand.
Contact details leave dispatch masked (`a***@example.com`): a reader of a customer
learns which address is on file, never the address.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxloop_shared.events import JsonScalar, Metric

DEFAULT_TIMELINE = 100
MAX_TIMELINE = 500


class Consent(BaseModel):
    """The customer's consent on one channel (`*`: every channel), newest change wins."""

    model_config = ConfigDict(frozen=True)

    opted_out: bool
    at: AwareDatetime = Field(description="When the newest opt-out or opt-in happened.")


class Profile(BaseModel):
    """The customer as dispatch knows them, merged from touchpoints; contacts masked."""

    model_config = ConfigDict(frozen=True)

    email: str | None = Field(None, description="Masked, e.g. `a***@example.com`.")
    phone: str | None = Field(None, description="Masked, e.g. `+1********00`.")
    locale: str | None = None
    timezone: str | None = None
    preferred_channel: str | None = None
    persona: str | None = None
    consent: dict[str, Consent] = Field(
        default_factory=dict, description="Per channel; `*` stands for every channel."
    )
    erased_at: AwareDatetime | None = Field(
        None, description="When the customer's personal data was erased; null if never."
    )
    updated_at: AwareDatetime | None = None


class SendAttempt(BaseModel):
    """One try at handing an invitation to a provider (the send ledger)."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    channel: str
    state: str = Field(description="claimed, handing_over, sent, failed, retry, abandoned…")
    detail: str | None = Field(None, description="Why: the provider's answer, a fallback…")
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None


class Decision(BaseModel):
    """What dispatch decided for one touchpoint event, and why, and what became of it."""

    model_config = ConfigDict(frozen=True)

    invitation_id: uuid.UUID
    source: str
    event_id: str
    touchpoint: str
    customer_id: str
    status: str = Field(
        description="scheduled, sending, sent, suppressed, failed, expired or unknown."
    )
    reason: str = Field(description="Why: the policy rule, `erased`, a provider's answer…")
    survey: str | None = None
    metric: Metric | None = None
    channel: str | None = None
    occurred_at: AwareDatetime = Field(description="When the touchpoint happened.")
    decided_at: AwareDatetime
    send_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    sent_at: AwareDatetime | None = None
    expired_at: AwareDatetime | None = Field(
        None, description="When it expired unsent (its expiry time), if it did."
    )
    answered_at: AwareDatetime | None = None
    reminders_sent: int = 0
    delivery: str | None = Field(None, description="The provider's report: delivered, failed.")
    attempts: list[SendAttempt] = Field(
        default_factory=list, description="Every provider attempt (in traces only)."
    )


class DispatchCustomer(BaseModel):
    """Dispatch's answer about one customer: profile and decisions, newest first."""

    workspace_id: str
    customer_id: str
    profile: Profile | None = Field(None, description="Null when no touchpoint named them.")
    decisions: list[Decision]
    truncated: bool = Field(False, description="True when older decisions were left out.")


class EventTrace(BaseModel):
    """Every decision taken for one touchpoint event (one per source that sent it)."""

    workspace_id: str
    event_id: str
    decisions: list[Decision]


class TouchpointSeen(BaseModel):
    """A touchpoint as it happened, with the attributes its source sent."""

    model_config = ConfigDict(frozen=True)

    source: str
    event_id: str
    touchpoint: str
    channel: str | None = None
    occurred_at: AwareDatetime
    attributes: dict[str, JsonScalar] = Field(default_factory=dict)


class AnswerGiven(BaseModel):
    """The customer's answer (its latest revision) to a survey."""

    model_config = ConfigDict(frozen=True)

    response_id: str
    revision: int
    invitation_id: uuid.UUID | None = None
    touchpoint: str
    survey: str | None = None
    metric: Metric
    channel: str | None = None
    score: int
    comment: str | None = None
    answered_at: AwareDatetime


class ScoringTimeline(BaseModel):
    """Scoring's answer about one customer: touchpoints and answers, newest first."""

    workspace_id: str
    customer_id: str
    touchpoints: list[TouchpointSeen]
    answers: list[AnswerGiven]
    truncated: bool = Field(False, description="True when older entries were left out.")


class TimelineEntry(BaseModel):
    """One moment of a customer's timeline: exactly one of the three parts is set."""

    at: AwareDatetime
    kind: Literal["touchpoint", "decision", "answer"]
    touchpoint: TouchpointSeen | None = None
    decision: Decision | None = None
    answer: AnswerGiven | None = None


class CustomerView(BaseModel):
    """A customer: profile, erasure, and the timeline of touchpoints, decisions, answers."""

    workspace_id: str
    customer_id: str
    profile: Profile | None = Field(None, description="Null when dispatch never saw them.")
    erased: bool
    erased_at: AwareDatetime | None = None
    timeline: list[TimelineEntry] = Field(description="Oldest first.")
    truncated: bool = Field(False, description="True when older entries were left out.")


class ErasureAccepted(BaseModel):
    """The answer to an erasure request: recorded durably, applied by every service."""

    workspace_id: str
    customer_id: str
    status: Literal["accepted"] = "accepted"
    requested_at: AwareDatetime
    what_happens: list[str]
    check: str = Field(description="Where to see that it was applied.")
