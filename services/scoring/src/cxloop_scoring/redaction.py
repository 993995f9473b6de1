"""What scoring keeps of a customer once they asked to be erased, decided.

Everything here is pure; `erasure.py` loads the rows and writes back what these return.

- Counts stay: scores, touchpoints, channels, personas, times and the ids of responses
  and invitations are what the rollups are built from (and rebuilt from), so none of
  them changes and every metric reads the same before and after.
- The customer id is personal: it is how the workspace's CRM, shop or help desk names
  the person, so an answer filed under it says what that person thought. It becomes
  a pseudonym drawn at random once per erasure (`erased:<32 hex>`), never derived from
  the id. One erasure uses one pseudonym for all the customer's rows, so they still
  belong together: one respondent, and the answer-to-later-touchpoint links business
  outcomes follow.
- Late data (an answer, touchpoint or invitation of the customer consumed after the
  erasure) is stored the same way, under the same pseudonym: `erased_customers` maps
  the customer to it by `cxloop_shared.erasure.customer_digest`, a SHA-256 of
  workspace and id, never the id itself. Nobody reads an id out of the table;
  whoever holds or guesses an id can find its pseudonym (the service must, to
  recognise late data). A keyed HMAC would stop a holder of a database copy alone
  from testing guesses, at the price of a secret that can never rotate (a new key
  silently lets late data in again).
- Comments and alert notes are dropped: free text is where names, order numbers and
  complaints live, and nothing counts them.
- A touchpoint's attributes (and the snapshot an alert keeps of them) lose what is
  about the person and keep what is about the moment (`scrub_attributes`): amounts,
  currencies, queues and agents stay, so outcome and contact-resolution reports read
  the same; contact details, identifiers and free text go.
- Webhook bodies about the customer get the same treatment.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cxloop_shared.erasure import CustomerKey
from cxloop_shared.events import TouchpointReceived

from cxloop_scoring.rollups import Answer

PSEUDONYM_PREFIX = "erased:"

# Attribute names (split into words: `buyerEmail`, `buyer_email` → buyer, email) that say
# the value is about the person, whatever its type. `id` covers order and ticket
# references: the source system maps them straight back to the customer.
PERSONAL_WORDS = frozenset(
    {
        "name", "firstname", "lastname", "fullname", "surname", "email", "mail", "phone",
        "mobile", "tel", "telephone", "msisdn", "fax", "address", "street", "city", "zip",
        "zipcode", "postal", "postcode", "ip", "birthday", "birthdate", "dob", "ssn",
        "passport", "iban", "card", "customer", "contact", "user", "username", "login",
        "comment", "note", "notes", "message", "text", "description", "id", "ids",
    }
)  # fmt: skip
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# An address quoted in running text ends at brackets, quotes and punctuation.
_EMAIL_IN_TEXT = re.compile(r'[^@\s<>()\[\]",;:]+@[^@\s<>()\[\]",;:]+\.[^@\s<>()\[\]",;:]+')
_PHONE = re.compile(r"\+?[0-9][0-9\s().-]{5,}[0-9]")
_AMOUNT = re.compile(r"\s*-?[0-9]+\.[0-9]+\s*")
MAX_LABEL_WORDS = 3  # "Billing disputes", "Kim Lee"; longer is free text
MAX_LABEL_LENGTH = 60


def pseudonym() -> str:
    """A fresh random stand-in for an erased customer's id; nothing maps it back."""
    return f"{PSEUDONYM_PREFIX}{secrets.token_hex(16)}"


ERASED = "[erased]"


def is_pseudonym(customer_id: str) -> bool:
    """Whether `customer_id` is the stand-in of an erased customer."""
    return customer_id.startswith(PSEUDONYM_PREFIX)


def personal_name(name: str) -> bool:
    """Whether an attribute's name says its value is about the person (`buyer_email`)."""
    return any(word.lower() in PERSONAL_WORDS for word in _WORDS.findall(name))


def personal_text(value: str, *, customer_id: str) -> bool:
    """Whether a text value is about the person: an email address, a phone number, the
    customer's id, or free text (more than a short label)."""
    if _EMAIL.search(value) or len(value) > MAX_LABEL_LENGTH:
        return True
    if len(value.split()) > MAX_LABEL_WORDS:
        return True
    folded, identity = value.casefold(), customer_id.casefold()
    if folded == identity or (len(identity) >= 4 and identity in folded):
        return True
    if _AMOUNT.fullmatch(value):
        return False  # "1999.00" is an amount, not a number to call
    phone = _PHONE.search(value)
    return phone is not None and sum(c.isdigit() for c in phone.group()) >= 7


def _scrubbed(value: Any, *, customer_id: str) -> tuple[bool, Any]:
    """(keep, value) for one value under a name that is not personal."""
    if isinstance(value, str):
        return not personal_text(value, customer_id=customer_id), value
    if isinstance(value, Mapping):
        return True, scrub_attributes(value, customer_id=customer_id)
    if isinstance(value, list):
        kept = [_scrubbed(item, customer_id=customer_id) for item in value]
        return True, [item for keep, item in kept if keep]
    return True, value


def scrub_attributes(attributes: Mapping[str, Any], *, customer_id: str) -> dict[str, Any]:
    """The attributes without what is about the customer.

    Gone: every value under a personal name (`email`, `buyer_name`, `order_id`), and every
    text that is an email address, a phone number, the customer's id or free text.
    Kept: numbers, booleans and short labels under other names (`order_value`,
    `currency`, `queue`, `agent`). Nested objects and lists are scrubbed alike.
    """
    found: dict[str, Any] = {}
    for name, value in attributes.items():
        if personal_name(name):
            continue
        keep, kept = _scrubbed(value, customer_id=customer_id)
        if keep:
            found[name] = kept
    return found


def scrub_contacts(text: str) -> str:
    """`text` with every email address and phone number in it replaced by `[erased]`
    (a provider's error naming the mailbox it could not deliver to)."""
    text = _EMAIL_IN_TEXT.sub(ERASED, text)
    return _PHONE.sub(
        lambda found: ERASED if sum(c.isdigit() for c in found.group()) >= 7 else found.group(),
        text,
    )


def erased_answer(answer: Answer, *, pseudonym: str) -> Answer:
    """A late answer of an erased customer as the erasure leaves answers: under the
    pseudonym, without its comment; its score, times and keys count as they are."""
    return replace(answer, customer_id=pseudonym, comment=None)


def erased_answers(answers: Sequence[Answer], erased: Mapping[CustomerKey, str]) -> list[Answer]:
    """The answers, those of erased customers (`erased`: their pseudonyms) as erased."""
    return [
        erased_answer(answer, pseudonym=erased[key])
        if (key := (answer.workspace_id, answer.customer_id)) in erased
        else answer
        for answer in answers
    ]


def erased_touchpoint(received: TouchpointReceived, *, pseudonym: str) -> TouchpointReceived:
    """A late touchpoint of an erased customer as the erasure leaves touchpoints: under
    the pseudonym, without contact details, its attributes scrubbed. The persona stays,
    as it does in the rows the erasure rewrote."""
    event = received.event
    customer = event.customer.model_copy(update={"id": pseudonym, "email": None, "phone": None})
    attributes = scrub_attributes(event.attributes, customer_id=event.customer.id)
    return received.model_copy(
        update={"event": event.model_copy(update={"customer": customer, "attributes": attributes})}
    )


def erased_touchpoints(
    touchpoints: Sequence[TouchpointReceived], erased: Mapping[CustomerKey, str]
) -> list[TouchpointReceived]:
    """The touchpoints, those of erased customers (`erased`: their pseudonyms) as erased."""
    return [
        erased_touchpoint(received, pseudonym=erased[key])
        if (key := (received.workspace_id, received.event.customer.id)) in erased
        else received
        for received in touchpoints
    ]


def webhook_customer_marker(customer_id: str) -> str:
    """The text every webhook body about `customer_id` contains (bodies are compact JSON),
    to find candidates without parsing every body."""
    return '"customer_id":' + json.dumps(customer_id, ensure_ascii=False)


def webhook_is_about(body: str, customer_id: str) -> bool:
    """Whether a webhook body's `data` is about `customer_id`."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    data = document.get("data") if isinstance(document, dict) else None
    return isinstance(data, dict) and data.get("customer_id") == customer_id


def redact_webhook_body(body: str, *, customer_id: str, pseudonym: str) -> str:
    """The body with the customer's id replaced, comment and note dropped and context
    scrubbed; same compact JSON as webhooks are sent in."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        return json.dumps({"redacted": True}, separators=(",", ":"))
    data = dict(document["data"])
    if "customer_id" in data:
        data["customer_id"] = pseudonym
    for free_text in ("comment", "note"):
        if free_text in data:
            data[free_text] = None
    if isinstance(data.get("reason"), str):  # an invitation's: may quote a provider's error
        data["reason"] = scrub_contacts(data["reason"])
    if isinstance(data.get("context"), Mapping):
        data["context"] = scrub_attributes(data["context"], customer_id=customer_id)
    document["data"] = data
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
