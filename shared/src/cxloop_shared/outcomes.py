"""The business-outcome read models: what scoring answers and the gateway serves as
`GET /v1/outcomes` (what customers of each score band did afterwards) and
`GET /v1/contact-resolution` (first-contact resolution as observed and as reported).

Percentages are 0..100. Every figure that estimates something carries its n and a 95%
interval, and is null with a `withheld_reason` below the workspace's minimum n; plain
counts and sums are always shown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxloop_shared.readmodels import Interval, MetricValue

OutcomeMetric = Literal["nps", "csat", "ces", "yes_no"]
BandName = Literal[
    "promoters",
    "passives",
    "detractors",
    "satisfied",
    "neutral",
    "dissatisfied",
    "agree",
    "disagree",
    "yes",
    "no",
]
ResolutionGroupBy = Literal["queue", "agent", "channel"]


class BandOutcome(BaseModel):
    """What the customers of one score band did in the N days after answering."""

    model_config = ConfigDict(frozen=True)

    band: BandName | None = Field(description="Null for the row of every band together.")
    scores: list[int] = Field(description="The scores that make up the band.")
    customers: int = Field(
        ge=0, description="Customers whose N days after answering are over: the n."
    )
    censored: int = Field(
        ge=0, description="Customers left out because their N days are not over yet."
    )
    returned: int = Field(ge=0, description="Customers with a return touchpoint in those days.")
    return_rate: float | None = Field(description="100·returned/customers; null when withheld.")
    return_interval: Interval | None = Field(None, description="Wilson 95% interval, in %.")
    revenue: float = Field(description="Sum of the amounts of the revenue touchpoints.")
    revenue_per_customer: float | None = Field(
        description="Mean revenue per customer, customers without any counting 0."
    )
    revenue_interval: Interval | None = Field(
        None, description="mean ± 1.96·s/√n (normal approximation); needs two customers."
    )
    withheld_reason: str | None = None


class OutcomesReport(BaseModel):
    """Per score band: how many customers came back, and what they spent, within N days."""

    workspace_id: str
    metric: OutcomeMetric
    touchpoint: str | None = Field(description="The answered touchpoint; null: any.")
    return_touchpoint: str
    revenue_touchpoint: str
    amount: list[str] = Field(
        description="Attributes read as the amount, the first numeric one of each event."
    )
    currency: str | None = Field(description="Only amounts in this currency; null: all.")
    currencies: list[str] = Field(
        description="Currencies of the amounts counted (more than one: sums mix currencies)."
    )
    days: int
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    observed_at: AwareDatetime = Field(description="The moment censoring was decided at.")
    min_n: int
    bands: list[BandOutcome]
    total: BandOutcome

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ObservedResolution(BaseModel):
    """Contacts not followed by another contact of the same customer within N days."""

    model_config = ConfigDict(frozen=True)

    contacts: int = Field(ge=0, description="Contacts whose N days are over: the n.")
    censored: int = Field(ge=0, description="Contacts left out: their N days are not over yet.")
    resolved: int = Field(ge=0, description="Contacts with no further contact in those days.")
    fcr: float | None = Field(description="100·resolved/contacts; null when withheld.")
    interval: Interval | None = Field(None, description="Wilson 95% interval, in %.")
    withheld_reason: str | None = None


class ResolutionGroup(BaseModel):
    """First-contact resolution of one queue, agent or channel (value null: not recorded)."""

    value: str | None
    observed: ObservedResolution
    reported: MetricValue = Field(
        description="Yes/no answers to surveys sent for these contacts: % yes."
    )


class ContactResolutionReport(BaseModel):
    """First-contact resolution as observed beside as reported, in total and per group."""

    workspace_id: str
    touchpoints: list[str]
    days: int
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    observed_at: AwareDatetime = Field(description="The moment censoring was decided at.")
    min_n: int
    group_by: ResolutionGroupBy | None = None
    total: ResolutionGroup
    groups: list[ResolutionGroup] = Field(default_factory=list, description="Most contacts first.")
    groups_truncated: bool = Field(False, description="Only the groups with most contacts.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
