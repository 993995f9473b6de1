"""Business outcomes by score band, and first-contact resolution as observed: decided.

Pure: the repository (`outcome_repository.py`) does the heavy lifting in SQL and returns
one aggregated row per score (outcomes) or per group (contact resolution); this module
maps scores to bands, computes rates, means and their intervals, and withholds
estimates below the workspace's minimum n.

Outcomes. The cohort is every customer who answered `metric` (on `touchpoint`, when
given) with `from <= answered_at < to`; a customer counts once, in the band of their
LAST such answer (latest revision; ties broken by response id), so a customer who
moved from detractor to promoter is a promoter. Their follow-up window is
(answered_at, answered_at + N days]: a touchpoint exactly N days later is in, one at the
moment of answering is not. A customer *returned* when a `return_touchpoint` event
lies in it; their *revenue* is the sum of the amounts of the `revenue_touchpoint`
events (by default the return touchpoint) in it, 0 when there are none. Revenue is
never summed over every touchpoint: one order is both a checkout and a delivery, and
a refund carries an amount too. A customer whose window has not closed at the moment
of the request is right-censored: counted in `censored`, left out of every figure.

Contact resolution. Contacts are the events of the given touchpoints with
`from <= occurred_at < to`; one is *resolved* (observed) when the same customer has no
other contact of those touchpoints in (occurred_at, occurred_at + N days]. Contacts
whose window is still open are censored. Beside it, the customer-reported rate: yes/no
answers to invitations sent for those same contacts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from cxloop_shared.errors import Unprocessable
from cxloop_shared.outcomes import (
    BandName,
    BandOutcome,
    ContactResolutionReport,
    ObservedResolution,
    OutcomeMetric,
    OutcomesReport,
    ResolutionGroup,
    ResolutionGroupBy,
)
from cxloop_shared.readmodels import Interval

from cxloop_scoring.metrics import Z95, wilson_interval, withheld_reason, yes_no
from cxloop_scoring.reports import DEFAULT_WINDOW, MAX_WINDOW
from cxloop_scoring.rollups import Histogram, empty_histogram

MAX_DAYS = 365
MAX_TOUCHPOINTS = 20
MAX_GROUPS = 500
DEFAULT_AMOUNTS = ("order_value", "amount")

# Highest band first, as a CX lead reads them.
BANDS: dict[OutcomeMetric, tuple[tuple[BandName, range], ...]] = {
    "nps": (("promoters", range(9, 11)), ("passives", range(7, 9)), ("detractors", range(0, 7))),
    "csat": (("satisfied", range(4, 6)), ("neutral", range(3, 4)), ("dissatisfied", range(1, 3))),
    "ces": (("agree", range(5, 8)), ("neutral", range(4, 5)), ("disagree", range(1, 4))),
    "yes_no": (("yes", range(1, 2)), ("no", range(0, 1))),
}

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


def band_of(metric: OutcomeMetric, score: int) -> BandName | None:
    """The band of a `metric` score (NPS 9-10 promoters, 7-8 passives, 0-6 detractors;
    CSAT 4-5 satisfied, 3 neutral, 1-2 dissatisfied; CES 5-7 agree, 4 neutral, 1-3
    disagree; yes/no), or None for a score off the metric's scale."""
    for name, scores in BANDS[metric]:
        if score in scores:
            return name
    return None


def observation_window(
    *, start: datetime | None, end: datetime | None, days: int, now: datetime
) -> tuple[datetime, datetime]:
    """The [from, to) window a request means.

    `to` defaults to now - N days, the last moment whose N-day follow-up is over, so the
    default window has nothing censored; `from` defaults to 30 days before `to`. Raise
    Unprocessable when `days` is outside 1..365, `to` is not after `from`, or the
    window is longer than 400 days.
    """
    if not 1 <= days <= MAX_DAYS:
        raise Unprocessable(f"days: must be between 1 and {MAX_DAYS}, not {days}")
    defaulted = end is None
    end = end or now - timedelta(days=days)
    start = start or end - DEFAULT_WINDOW
    if end <= start:
        default = f" (by default now - {days} days)" if defaulted else ""
        raise Unprocessable(
            f"to: {end.isoformat()}{default} must be after from ({start.isoformat()})"
        )
    if end - start > MAX_WINDOW:
        raise Unprocessable(f"from, to: the window is over the maximum of {MAX_WINDOW.days} days")
    return start, end


def contact_touchpoints(values: Iterable[str]) -> tuple[str, ...]:
    """The contact touchpoints of a request: repeated and/or comma-separated, in order, once.

    Raise Unprocessable naming `touchpoint` when none is given, one is not a key, or
    there are more than 20.
    """
    found: dict[str, None] = {}
    for value in values:
        for each in value.split(","):
            name = each.strip()
            if not _KEY.match(name) or len(name) > 100:
                raise Unprocessable(f"touchpoint: {name[:100]!r} is not a touchpoint key")
            found[name] = None
    if not found:
        raise Unprocessable("touchpoint: give at least one contact touchpoint")
    if len(found) > MAX_TOUCHPOINTS:
        raise Unprocessable(f"touchpoint: at most {MAX_TOUCHPOINTS} touchpoints")
    return tuple(found)


def mean_interval(total: Decimal, squares: Decimal, n: int) -> tuple[float | None, Interval | None]:
    """The mean of n values from their sum and sum of squares, with mean ± 1.96·s/√n
    (s the sample standard deviation); no mean without values, no interval below two."""
    if n <= 0:
        return None, None
    with localcontext() as exact:
        exact.prec = 60
        mean = total / n
        if n < 2:
            return float(mean), None
        variance = max((squares - total * total / n) / (n - 1), Decimal(0))
        margin = Z95 * math.sqrt(float(variance)) / math.sqrt(n)
    return float(mean), Interval(low=float(mean) - margin, high=float(mean) + margin)


# --- Outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreOutcomeRow:
    """The customers whose last answer had this `score`, observable (window over) or not,
    whose counted amounts were in `currencies` (several rows per score are summed)."""

    score: int
    observable: bool
    customers: int
    returned: int
    revenue: Decimal
    revenue_squares: Decimal
    currencies: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Tally:
    customers: int = 0
    censored: int = 0
    returned: int = 0
    revenue: Decimal = Decimal(0)
    squares: Decimal = Decimal(0)

    def add(self, row: ScoreOutcomeRow) -> None:
        if not row.observable:
            self.censored += row.customers
            return
        self.customers += row.customers
        self.returned += row.returned
        self.revenue += row.revenue
        self.squares += row.revenue_squares


def band_outcome(
    band: BandName | None, scores: Sequence[int], tally: _Tally, *, min_n: int
) -> BandOutcome:
    """The outcome of one band's observable customers; estimates withheld below `min_n`."""
    reason = withheld_reason(tally.customers, min_n)
    shown = reason is None
    mean, spread = mean_interval(tally.revenue, tally.squares, tally.customers)
    return BandOutcome(
        band=band,
        scores=list(scores),
        customers=tally.customers,
        censored=tally.censored,
        returned=tally.returned,
        return_rate=100 * tally.returned / tally.customers if shown else None,
        return_interval=wilson_interval(tally.returned, tally.customers) if shown else None,
        revenue=float(tally.revenue),
        revenue_per_customer=mean if shown else None,
        revenue_interval=spread if shown else None,
        withheld_reason=reason,
    )


@dataclass(frozen=True, slots=True)
class OutcomeSlice:
    """What an outcomes report covers (the window already resolved)."""

    workspace_id: str
    metric: OutcomeMetric
    touchpoint: str | None
    return_touchpoint: str
    revenue_touchpoint: str
    amount: tuple[str, ...]
    currency: str | None
    days: int
    start: datetime
    end: datetime


def build_outcomes(
    *, where: OutcomeSlice, rows: Sequence[ScoreOutcomeRow], min_n: int, now: datetime
) -> OutcomesReport:
    """The per-band report of `where` from the per-score rows the repository summed."""
    tallies = {name: _Tally() for name, _ in BANDS[where.metric]}
    total = _Tally()
    currencies: set[str] = set()
    for row in rows:
        band = band_of(where.metric, row.score)
        if band is None:
            continue  # the repository only reads on-scale scores; never guess a band
        tallies[band].add(row)
        total.add(row)
        if row.observable:
            currencies |= row.currencies
    scale = sorted(score for _, scores in BANDS[where.metric] for score in scores)
    return OutcomesReport(
        workspace_id=where.workspace_id,
        metric=where.metric,
        touchpoint=where.touchpoint,
        return_touchpoint=where.return_touchpoint,
        revenue_touchpoint=where.revenue_touchpoint,
        amount=list(where.amount),
        currency=where.currency,
        currencies=sorted(currencies),
        days=where.days,
        start=where.start,
        end=where.end,
        observed_at=now,
        min_n=min_n,
        bands=[
            band_outcome(name, scores, tallies[name], min_n=min_n)
            for name, scores in BANDS[where.metric]
        ],
        total=band_outcome(None, scale, total, min_n=min_n),
    )


# --- Contact resolution -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactSlice:
    """What a contact-resolution report covers (the window already resolved)."""

    workspace_id: str
    touchpoints: tuple[str, ...]
    days: int
    start: datetime
    end: datetime
    group_by: ResolutionGroupBy | None


@dataclass(frozen=True, slots=True)
class ContactRow:
    """The contacts of one group: observable ones, censored ones, and those resolved."""

    group: str | None
    contacts: int
    censored: int
    resolved: int


@dataclass(frozen=True, slots=True)
class ReportedRow:
    """Yes/no answers with this `score` to invitations sent for one group's contacts."""

    group: str | None
    score: int
    answers: int


@dataclass(slots=True)
class _GroupTally:
    contacts: int = 0
    censored: int = 0
    resolved: int = 0
    reported: Histogram = field(default_factory=empty_histogram)


def observed_resolution(
    *, contacts: int, censored: int, resolved: int, min_n: int
) -> ObservedResolution:
    """Observed first-contact resolution with its Wilson interval; withheld below `min_n`."""
    reason = withheld_reason(contacts, min_n)
    return ObservedResolution(
        contacts=contacts,
        censored=censored,
        resolved=resolved,
        fcr=100 * resolved / contacts if reason is None else None,
        interval=wilson_interval(resolved, contacts) if reason is None else None,
        withheld_reason=reason,
    )


def _group(value: str | None, tally: _GroupTally, *, min_n: int) -> ResolutionGroup:
    return ResolutionGroup(
        value=value,
        observed=observed_resolution(
            contacts=tally.contacts,
            censored=tally.censored,
            resolved=tally.resolved,
            min_n=min_n,
        ),
        reported=yes_no(tally.reported, min_n=min_n),
    )


def build_resolution(
    *,
    where: ContactSlice,
    contacts: Sequence[ContactRow],
    reported: Sequence[ReportedRow],
    min_n: int,
    now: datetime,
) -> ContactResolutionReport:
    """The report of `where`: the total, and with `group_by` the groups with most contacts
    first (at most 500; the total always covers every contact)."""
    tallies: dict[str | None, _GroupTally] = {}
    total = _GroupTally()
    for row in contacts:
        tally = tallies.setdefault(row.group, _GroupTally())
        for each in (tally, total):
            each.contacts += row.contacts
            each.censored += row.censored
            each.resolved += row.resolved
    for answer in reported:
        tally = tallies.setdefault(answer.group, _GroupTally())
        for each in (tally, total):
            each.reported[answer.score] += answer.answers
    ordered = sorted(
        tallies.items(),
        key=lambda item: (-(item[1].contacts + item[1].censored), item[0] is None, item[0] or ""),
    )
    return ContactResolutionReport(
        workspace_id=where.workspace_id,
        touchpoints=list(where.touchpoints),
        days=where.days,
        start=where.start,
        end=where.end,
        observed_at=now,
        min_n=min_n,
        group_by=where.group_by,
        total=_group(None, total, min_n=min_n),
        groups=[_group(value, tally, min_n=min_n) for value, tally in ordered[:MAX_GROUPS]]
        if where.group_by is not None
        else [],
        groups_truncated=where.group_by is not None and len(ordered) > MAX_GROUPS,
    )
