"""The pure parts of erasure against late data, for every input: how an erased customer
is named without their id, and what a late answer, touchpoint or provider error keeps."""

from __future__ import annotations

import dataclasses
import json

from cxloop_scoring.redaction import (
    ERASED,
    erased_answer,
    erased_answers,
    erased_touchpoint,
    erased_touchpoints,
    pseudonym,
    redact_webhook_body,
    scrub_contacts,
)
from cxloop_scoring.rollups import Answer
from cxloop_scoring.webhooks import body
from cxloop_shared.erasure import customer_digest
from hypothesis import given
from hypothesis import strategies as st
from scoring_support import T0, response, touchpoint

EMAILS = st.emails().map(str)
PHONES = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
WORDS = st.text(alphabet=st.sampled_from("abcdefghij ,:;<>"), max_size=30)
IDS = st.text(min_size=1, max_size=200)


@given(workspace=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), customer=IDS)
def test_the_digest_names_the_customer_in_the_workspace_without_the_id(
    workspace: str, customer: str
) -> None:
    digest = customer_digest(workspace, customer)

    assert digest == customer_digest(workspace, customer)
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
    assert digest != customer_digest(f"{workspace}x", customer)
    assert digest != customer_digest(workspace, f"{customer}x")


@given(before=WORDS, address=EMAILS | PHONES, after=WORDS)
def test_no_address_survives_a_scrubbed_provider_error(
    before: str, address: str, after: str
) -> None:
    scrubbed = scrub_contacts(f"{before} <{address}> {after}")

    assert address not in scrubbed
    assert ERASED in scrubbed


@given(error=WORDS)
def test_an_error_without_an_address_is_kept(error: str) -> None:
    assert scrub_contacts(error) == error


def test_a_late_answer_keeps_everything_that_counts() -> None:
    answer = Answer.from_event(response("w", "r-1", 9, customer_id="c-1", comment="call me"))
    other = Answer.from_event(response("w", "r-2", 3, customer_id="c-2", comment="fine"))
    stand_in = pseudonym()

    late = erased_answer(answer, pseudonym=stand_in)

    assert late == dataclasses.replace(answer, customer_id=stand_in, comment=None)
    assert erased_answers([answer, other], {("w", "c-1"): stand_in}) == [late, other]
    assert erased_answers([answer], {("w-other", "c-1"): stand_in}) == [answer]


def test_a_late_touchpoint_keeps_what_is_about_the_moment() -> None:
    attributes = {"order_value": 120.5, "buyer_email": "ana@example.com", "queue": "returns"}
    received = touchpoint("w", "ord-1", attributes, customer_id="c-1")
    stand_in = pseudonym()

    late = erased_touchpoint(received, pseudonym=stand_in)

    assert late.event.customer.id == stand_in
    assert (late.event.customer.email, late.event.customer.phone) == (None, None)
    assert late.event.attributes == {"order_value": 120.5, "queue": "returns"}
    assert (late.event.id, late.event.occurred_at, late.source) == ("ord-1", T0, "shop")
    assert erased_touchpoints([received], {}) == [received]


def test_a_redacted_invitation_webhook_keeps_no_address_in_its_reason() -> None:
    data = {"customer_id": "c-1", "reason": "550 5.1.1 <ana@example.com>: no such user"}
    text = body("invitation.failed", at=T0, data=data)

    redacted = json.loads(redact_webhook_body(text, customer_id="c-1", pseudonym="erased:x"))

    assert redacted["data"] == {
        "customer_id": "erased:x",
        "reason": f"550 5.1.1 <{ERASED}>: no such user",
    }
