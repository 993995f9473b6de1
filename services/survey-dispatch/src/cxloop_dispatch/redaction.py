"""What dispatch's send logs keep of an erased customer's addresses.

A provider's error is kept where dispatch logs it (an invitation's `reason`, a send
ledger row's `detail`): it explains a decision or a retry. But it may quote the
address (an SMTP 550 naming the mailbox, an SMS gateway quoting the number), so on
erasure every address in it becomes `[erased]`: the addresses dispatch knew for the
customer, in any case, and anything else that looks like an email address or a phone
number. Codes and the rest of the text stay. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Collection

ERASED = "[erased]"
# An address quoted in running text ends at brackets, quotes and punctuation.
_EMAIL = re.compile(r'[^@\s<>()\[\]",;:]+@[^@\s<>()\[\]",;:]+\.[^@\s<>()\[\]",;:]+')
_PHONE = re.compile(r"\+?[0-9][0-9\s().-]{5,}[0-9]")
_PHONE_DIGITS = 7  # fewer digits is a code or a count, not a number to call


def _phone_or_kept(found: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in found.group())
    return ERASED if digits >= _PHONE_DIGITS else found.group()


def scrub_addresses(text: str, *, addresses: Collection[str]) -> str:
    """`text` with each of `addresses` (any case) and every email address or phone
    number in it replaced by `[erased]`."""
    for address in sorted({a.strip() for a in addresses if a.strip()}, key=len, reverse=True):
        text = re.sub(re.escape(address), ERASED, text, flags=re.IGNORECASE)
    return _PHONE.sub(_phone_or_kept, _EMAIL.sub(ERASED, text))
