"""How dispatch's rows read to the outside: profiles with contacts masked, decisions.

Pure: `customer_endpoints.py` loads the rows and calls these. Contact details never
leave dispatch whole: a reader learns which address is on file (its first letter and
domain, a phone's country digit and last two digits), which is enough to tell two
customers apart on a support call, and never the address itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cxloop_shared.customers import Consent, Decision, Profile, SendAttempt

from cxloop_dispatch.customer_repository import CustomerRow

MASK = "***"


def mask_email(address: str) -> str:
    """`ana@example.com` → `a***@example.com`; anything not an address → `***`."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return MASK
    return f"{local[0]}{MASK}@{domain}"


def mask_phone(number: str) -> str:
    """`+14155550100` → `+1********00`: the first and last two digits, the rest starred."""
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 5:
        return MASK
    hidden = "*" * (len(digits) - 3)
    return f"+{digits[0]}{hidden}{digits[-2]}{digits[-1]}"


def profile_view(row: CustomerRow) -> Profile:
    """The stored profile as a reader sees it: contacts masked, consent per channel."""
    fields = row.fields
    email, phone = fields.get("email"), fields.get("phone")
    return Profile(
        email=mask_email(email) if email else None,
        phone=mask_phone(phone) if phone else None,
        locale=fields.get("locale"),
        timezone=fields.get("timezone"),
        preferred_channel=fields.get("preferred_channel"),
        persona=fields.get("persona"),
        consent={
            channel: Consent(
                opted_out=bool(state["opted_out"]), at=datetime.fromisoformat(state["at"])
            )
            for channel, state in sorted(row.consent.items())
        },
        erased_at=row.erased_at,
        updated_at=row.updated_at,
    )


def decision_view(row: Mapping[Any, Any], attempts: Sequence[Mapping[Any, Any]] = ()) -> Decision:
    """An invitation row (and its send ledger) as the decision it records."""
    return Decision(
        invitation_id=row["id"],
        source=row["source"],
        event_id=row["event_id"],
        touchpoint=row["touchpoint"],
        customer_id=row["customer_id"],
        status=row["status"],
        reason=row["reason"],
        survey=row["survey"],
        metric=row["metric"],
        channel=row["channel"],
        occurred_at=row["occurred_at"],
        decided_at=row["created_at"],
        send_at=row["send_at"],
        expires_at=row["expires_at"],
        sent_at=row["sent_at"],
        # Expiry is a status, not a column: it happened at the expiry time.
        expired_at=row["expires_at"] if row["status"] == "expired" else None,
        answered_at=row["answered_at"],
        reminders_sent=row["reminders_sent"],
        delivery=row["delivery"],
        attempts=[
            SendAttempt(
                attempt=a["attempt"],
                channel=a["channel"],
                state=a["state"],
                detail=a["detail"],
                started_at=a["started_at"],
                finished_at=a["finished_at"],
            )
            for a in attempts
        ],
    )
