"""The versioned event contracts that travel through Kafka.

Every service imports these models; nothing re-declares their fields. Each class
carries its CloudEvents `type`, which names the schema version: a breaking change
is a new class with a new type, published beside the old one until every consumer
reads it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cxloop_shared import clock

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Key = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
JsonScalar = str | int | float | bool | None

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_TIMEZONES = frozenset(available_timezones())

Metric = Literal["nps", "csat", "ces", "cxi", "yes_no"]
InvitationStatus = Literal["scheduled", "suppressed", "sent", "failed", "expired", "unknown"]
CollectedVia = Literal["link", "sms", "api"]
# The CX Index's three questions, each answered 1-5 (Forrester: effectiveness, ease, emotion).
CxiItem = Literal["effective", "easy", "enjoyable"]
CXI_ITEMS: tuple[CxiItem, ...] = ("effective", "easy", "enjoyable")
CxiScore = Annotated[int, Field(ge=1, le=5)]
CxiItems = dict[CxiItem, int]


def cxi_score(items: CxiItems) -> int:
    """The one score a CX Index answer is summarised by (alert rules, SMS, exports): the
    mean of its three items rounded half up. Metrics use the items themselves."""
    return (2 * sum(items[item] for item in CXI_ITEMS) + len(CXI_ITEMS)) // (2 * len(CXI_ITEMS))


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


def _phone(value: str) -> str:
    if not _E164.match(value):
        raise ValueError("not an E.164 phone number (e.g. +14155550100)")
    return value


def _timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError("not an IANA time zone (e.g. Europe/Berlin)")
    return value


Email = Annotated[str, AfterValidator(_email)]
Phone = Annotated[str, AfterValidator(_phone)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class Customer(BaseModel):
    """The customer as a touchpoint describes them; every field but `id` is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    email: Email | None = None
    phone: Phone | None = None
    locale: Annotated[str, StringConstraints(max_length=35)] | None = None
    timezone: TimeZoneName | None = None
    preferred_channel: Key | None = None
    persona: Annotated[str, StringConstraints(max_length=100)] | None = None


class Touchpoint(BaseModel):
    """A canonical touchpoint: the public shape sources post and providers are mapped to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier = Field(description="Idempotency key within a workspace and source.")
    touchpoint: Key = Field(description="The touchpoint's key in the workspace configuration.")
    occurred_at: AwareDatetime
    customer: Customer
    channel: Key | None = Field(None, description="Where the touchpoint happened (web, phone…).")
    attributes: dict[Key, JsonScalar] = Field(default_factory=dict, max_length=100)


class CxEvent(BaseModel):
    """Base of every Kafka event: a workspace, a customer (the partition key) and a type."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ce_type: ClassVar[str]

    workspace_id: Key

    @property
    def customer_key(self) -> str:
        """The customer this event is about; with the workspace it forms the Kafka key."""
        raise NotImplementedError

    @property
    def subject(self) -> str:
        """A stable id of what the event is about, used for the CloudEvents id."""
        raise NotImplementedError

    def kafka_key(self) -> str:
        """`<workspace_id>:<customer_id>`, so one customer's events stay in order."""
        return f"{self.workspace_id}:{self.customer_key}"


class TouchpointReceived(CxEvent):
    """A touchpoint that ingest accepted from a source."""

    ce_type: ClassVar[str] = "dev.cxloop.touchpoint.received.v1"

    source: Key
    received_at: AwareDatetime
    event: Touchpoint

    @property
    def customer_key(self) -> str:
        return self.event.customer.id

    @property
    def subject(self) -> str:
        return f"{self.source}/{self.event.id}"


class InvitationChanged(CxEvent):
    """A step in an invitation's life: scheduled, suppressed with a reason, sent, failed…"""

    ce_type: ClassVar[str] = "dev.cxloop.invitation.changed.v1"

    invitation_id: uuid.UUID
    event_id: Identifier
    source: Key
    touchpoint: Key
    customer_id: Identifier
    status: InvitationStatus
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    survey: Key | None = None
    metric: Metric | None = None
    channel: Key | None = None
    send_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    address_digest: Digest | None = Field(
        None, description="Keyed digest of the address it went to (see links.address_digest)."
    )
    changed_at: AwareDatetime

    @property
    def customer_key(self) -> str:
        return self.customer_id

    @property
    def subject(self) -> str:
        return f"{self.invitation_id}/{self.status}"


class ResponseRecorded(CxEvent):
    """An answer to a survey question, new (`revision` 1) or revised (higher revisions)."""

    ce_type: ClassVar[str] = "dev.cxloop.response.recorded.v1"

    response_id: Identifier
    invitation_id: uuid.UUID | None = None
    customer_id: Identifier
    touchpoint: Key
    survey: Key | None = None
    metric: Metric
    channel: Key | None = None
    score: int = Field(ge=0, le=10)
    items: dict[CxiItem, CxiScore] | None = Field(
        None,
        description="CX Index answers only: each of the three questions' 1-5 answer; "
        "`score` is then their mean rounded half up.",
    )
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None
    revision: int = Field(1, ge=1)
    answered_at: AwareDatetime
    collected_via: CollectedVia

    @model_validator(mode="after")
    def _cxi_has_its_items(self) -> ResponseRecorded:
        if self.metric != "cxi":
            if self.items is not None:
                raise ValueError("items: only a CX Index answer has items")
            return self
        if self.items is None or set(self.items) != set(CXI_ITEMS):
            raise ValueError(f"items: a CX Index answer needs exactly {', '.join(CXI_ITEMS)}")
        if self.score != cxi_score(self.items):
            raise ValueError("score: a CX Index answer's score is the mean of its items")
        return self

    @property
    def customer_key(self) -> str:
        return self.customer_id

    @property
    def subject(self) -> str:
        return f"{self.response_id}/{self.revision}"


class CustomerChanged(CxEvent):
    """A change of a customer's consent or an erasure request."""

    ce_type: ClassVar[str] = "dev.cxloop.customer.changed.v1"

    customer_id: Identifier
    change: Literal["opt_out", "opt_in", "erasure"]
    channel: Key | None = None
    address_digest: Digest | None = Field(
        None, description="For an opt-out by address (an SMS STOP): the number's keyed digest."
    )
    changed_at: AwareDatetime

    @property
    def customer_key(self) -> str:
        return self.customer_id

    @property
    def subject(self) -> str:
        return f"{self.customer_id}/{self.change}/{self.changed_at.isoformat()}"


class AlertRaised(CxEvent):
    """A closed-loop alert: an answer matched a workspace's alert rule."""

    ce_type: ClassVar[str] = "dev.cxloop.alert.raised.v1"

    alert_id: uuid.UUID
    # As long as a rule's `when` may be (`config.AlertRule`): the rule is its text.
    rule: Annotated[str, StringConstraints(max_length=1000)]
    response_id: Identifier
    customer_id: Identifier
    touchpoint: Key
    metric: Metric
    score: int
    comment: str | None = None
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="The attributes of the touchpoint the survey was sent for, as they were.",
    )
    raised_at: AwareDatetime
    revision: int = Field(1, ge=1, description="The answer's revision that raised the alert.")
    invitation_id: uuid.UUID | None = None
    survey: Key | None = None
    channel: Key | None = None
    notify: list[Key] = Field(default_factory=list, description="Endpoints the rule notifies.")

    @property
    def customer_key(self) -> str:
        return self.customer_id

    @property
    def subject(self) -> str:
        return str(self.alert_id)


EVENT_TYPES: dict[str, type[CxEvent]] = {
    cls.ce_type: cls
    for cls in (
        TouchpointReceived,
        InvitationChanged,
        ResponseRecorded,
        CustomerChanged,
        AlertRaised,
    )
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC (moved by `cxloop_shared.clock` in tests)."""
    return datetime.now(UTC) + clock.offset()
