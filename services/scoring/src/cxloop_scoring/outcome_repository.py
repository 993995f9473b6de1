"""The SQL of business outcomes and of observed first-contact resolution.

Every statement aggregates in Postgres and returns one row per score (outcomes) or per
group (contact resolution): the raw answers and touchpoints never travel to Python.
Follow-up windows are correlated LATERAL / EXISTS lookups per customer, which the
(workspace_id, customer_id) index of `touchpoint_contexts` serves. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cxloop_shared.scales import scale
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    FromClause,
    Interval,
    Numeric,
    Text,
    and_,
    case,
    distinct,
    false,
    func,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring.outcomes import (
    ContactRow,
    ContactSlice,
    OutcomeSlice,
    ReportedRow,
    ScoreOutcomeRow,
)
from cxloop_scoring.tables import answers, invitation_origins, touchpoint_contexts

# A decimal number as text ("199.00", "-5", "1.5e3"); the exponent is bounded so that
# no attribute can make the cast overflow. Anything else is not an amount.
NUMERIC_TEXT = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?\s*$"


def _amount(attributes: ColumnElement[Any], names: Sequence[str]) -> ColumnElement[Any]:
    """The first of the attributes `names` that holds a number (JSON or decimal text)."""
    candidates = []
    for name in names:
        value = attributes[name]
        kind = func.jsonb_typeof(value)
        candidates.append(
            case(
                (kind == "number", value.astext.cast(Numeric)),
                (
                    and_(kind == "string", value.astext.regexp_match(NUMERIC_TEXT)),
                    func.trim(value.astext).cast(Numeric),
                ),
                else_=null(),
            )
        )
    return func.coalesce(*candidates, type_=Numeric)


def _after(
    later: FromClause,
    *,
    workspace_id: str,
    customer_id: ColumnElement[Any],
    moment: ColumnElement[Any],
    horizon: ColumnElement[Any],
) -> ColumnElement[bool]:
    """`later` is the same customer's touchpoint in (moment, horizon]."""
    return and_(
        later.c.workspace_id == workspace_id,
        later.c.customer_id == customer_id,
        later.c.occurred_at > moment,
        later.c.occurred_at <= horizon,
    )


async def outcome_rows(
    session: AsyncSession, where: OutcomeSlice, *, now: datetime
) -> list[ScoreOutcomeRow]:
    """Customers, returned customers and revenue sums per last score, observability and
    set of currencies counted."""
    on_scale = scale(where.metric)
    conditions = [
        answers.c.workspace_id == where.workspace_id,
        answers.c.metric == where.metric,
        answers.c.answered_at >= where.start,
        answers.c.answered_at < where.end,
        answers.c.score.between(on_scale[0], on_scale[-1]),
    ]
    if where.touchpoint is not None:
        conditions.append(answers.c.touchpoint == where.touchpoint)
    # Each customer's last answer in the window decides their band.
    cohort = (
        select(answers.c.customer_id, answers.c.score, answers.c.answered_at)
        .where(*conditions)
        .ext(distinct_on(answers.c.customer_id))
        .order_by(answers.c.customer_id, answers.c.answered_at.desc(), answers.c.response_id.desc())
        .cte("cohort")
    )
    horizon = cohort.c.answered_at + literal(timedelta(days=where.days), Interval)
    observable = horizon <= literal(now, DateTime(timezone=True))

    # One index lookup per customer reads both the returns and the revenue.
    later = touchpoint_contexts.alias("later")
    amount = _amount(later.c.attributes, where.amount)
    currency = func.upper(later.c.attributes["currency"].astext)
    counted = [later.c.touchpoint == where.revenue_touchpoint, amount.is_not(None)]
    if where.currency is not None:
        counted.append(currency == where.currency.upper())
    follow_up = (
        select(
            func.coalesce(
                func.bool_or(later.c.touchpoint == where.return_touchpoint), false()
            ).label("returned"),
            func.coalesce(func.sum(amount).filter(and_(*counted)), 0).label("revenue"),
            # Sorted by DISTINCT, so that equal sets group together outside.
            func.array_agg(distinct(currency), type_=ARRAY(Text))
            .filter(and_(*counted, currency.is_not(None)))
            .label("currencies"),
        )
        .where(
            observable,  # a censored customer's touchpoints are never read
            _after(
                later,
                workspace_id=where.workspace_id,
                customer_id=cohort.c.customer_id,
                moment=cohort.c.answered_at,
                horizon=horizon,
            ),
            later.c.touchpoint.in_(sorted({where.return_touchpoint, where.revenue_touchpoint})),
        )
        .lateral("follow_up")
    )
    per_customer = (
        select(
            cohort.c.score,
            observable.label("observable"),
            follow_up.c.returned,
            follow_up.c.revenue,
            follow_up.c.currencies,
        )
        .select_from(cohort.join(follow_up, true()))
        .subquery("per_customer")
    )
    keys = [per_customer.c.score, per_customer.c.observable, per_customer.c.currencies]
    statement = select(
        *keys,
        func.count().label("customers"),
        func.count().filter(per_customer.c.returned).label("returned"),
        func.sum(per_customer.c.revenue).label("revenue"),
        func.sum(per_customer.c.revenue * per_customer.c.revenue).label("squares"),
    ).group_by(*keys)
    result = await session.execute(statement)
    return [
        ScoreOutcomeRow(
            score=row.score,
            observable=row.observable,
            customers=row.customers,
            returned=row.returned,
            revenue=Decimal(row.revenue),
            revenue_squares=Decimal(row.squares),
            currencies=frozenset(row.currencies or ()),
        )
        for row in result
    ]


def _group_value(contact: FromClause, group_by: str | None) -> ColumnElement[Any]:
    # Zendesk names a ticket's queue its group; Twilio and Chatwoot call it the queue.
    attributes: ColumnElement[Any] = contact.c.attributes
    if group_by == "queue":
        return func.coalesce(attributes["queue"].astext, attributes["group"].astext)
    if group_by == "agent":
        agent: ColumnElement[Any] = attributes["agent"].astext
        return agent
    if group_by == "channel":
        return contact.c.channel
    return null()


def _contacts_of(contact: FromClause, where: ContactSlice) -> ColumnElement[bool]:
    return and_(
        contact.c.workspace_id == where.workspace_id,
        contact.c.touchpoint.in_(where.touchpoints),
        contact.c.occurred_at >= where.start,
        contact.c.occurred_at < where.end,
    )


async def contact_rows(
    session: AsyncSession, where: ContactSlice, *, now: datetime
) -> list[ContactRow]:
    """Per group: observable contacts, censored contacts, and contacts not followed by
    another contact of the same customer within N days."""
    contact = touchpoint_contexts.alias("contact")
    following = touchpoint_contexts.alias("following")
    horizon = contact.c.occurred_at + literal(timedelta(days=where.days), Interval)
    observable = horizon <= literal(now, DateTime(timezone=True))
    followed = (
        select(literal(1))
        .where(
            _after(
                following,
                workspace_id=where.workspace_id,
                customer_id=contact.c.customer_id,
                moment=contact.c.occurred_at,
                horizon=horizon,
            ),
            following.c.touchpoint.in_(where.touchpoints),
        )
        .exists()
    )
    # The group expression carries bind parameters (`attributes -> $1`), so it is computed
    # in a subquery and grouped on outside, as in repository._slice_of.
    per_contact = (
        select(
            _group_value(contact, where.group_by).label("group_value"),
            observable.label("observable"),
            case((observable, ~followed), else_=null()).cast(Boolean).label("resolved"),
        )
        .where(_contacts_of(contact, where))
        .subquery("per_contact")
    )
    statement = select(
        per_contact.c.group_value,
        func.count().filter(per_contact.c.observable).label("contacts"),
        func.count().filter(~per_contact.c.observable).label("censored"),
        func.count().filter(per_contact.c.resolved).label("resolved"),
    ).group_by(per_contact.c.group_value)
    result = await session.execute(statement)
    return [
        ContactRow(
            group=row.group_value,
            contacts=row.contacts,
            censored=row.censored,
            resolved=row.resolved,
        )
        for row in result
    ]


async def reported_rows(session: AsyncSession, where: ContactSlice) -> list[ReportedRow]:
    """Per group and score: yes/no answers to invitations sent for the slice's contacts."""
    contact = touchpoint_contexts.alias("contact")
    answered = answers.join(
        invitation_origins,
        and_(
            invitation_origins.c.workspace_id == answers.c.workspace_id,
            invitation_origins.c.invitation_id == answers.c.invitation_id,
        ),
    ).join(
        contact,
        and_(
            contact.c.workspace_id == invitation_origins.c.workspace_id,
            contact.c.source == invitation_origins.c.source,
            contact.c.event_id == invitation_origins.c.event_id,
        ),
    )
    per_answer = (
        select(_group_value(contact, where.group_by).label("group_value"), answers.c.score)
        .select_from(answered)
        .where(
            answers.c.workspace_id == where.workspace_id,
            answers.c.metric == "yes_no",
            answers.c.score.between(0, 1),
            _contacts_of(contact, where),
        )
        .subquery("per_answer")
    )
    keys = [per_answer.c.group_value, per_answer.c.score]
    result = await session.execute(select(*keys, func.count().label("answers")).group_by(*keys))
    return [
        ReportedRow(group=row.group_value, score=row.score, answers=row.answers) for row in result
    ]
