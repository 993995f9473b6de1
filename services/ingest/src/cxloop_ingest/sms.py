"""What an SMS reply says: a score (with a comment), an opt-out, an opt-in, or neither.

Customers reply the way people text: "9", "9 thanks a lot", " 10!", "stop".
Opt-out words are the ones carriers and Twilio treat as such, so cxloop never
keeps texting a number that asked to stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cxloop_shared.events import Metric
from cxloop_shared.scales import scale

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
MAX_COMMENT = 5000

_LEADING_NUMBER = re.compile(r"^\s*([0-9]{1,4})(?![0-9])(?![.,][0-9])[\s!.,:;)\-]*(.*)$", re.DOTALL)
_WORD = re.compile(r"^\s*([A-Za-z]+)[\s!.]*$")

ReplyKind = Literal["score", "out_of_scale", "opt_out", "opt_in", "not_a_score"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMS reply, understood."""

    kind: ReplyKind
    score: int | None = None
    comment: str | None = None


def parse_reply(text: str, metric: Metric | None) -> Reply:
    """Understand `text` as an answer on `metric`'s scale (or as a keyword).

    Without an open invitation (`metric` None) only keywords mean something.
    """
    word = _WORD.match(text)
    if word:
        keyword = word.group(1).upper()
        if keyword in OPT_OUT_WORDS:
            return Reply("opt_out")
        if keyword in OPT_IN_WORDS:
            return Reply("opt_in")
    number = _LEADING_NUMBER.match(text)
    if metric is None or number is None:
        return Reply("not_a_score")
    score = int(number.group(1))
    comment = number.group(2).strip()[:MAX_COMMENT] or None
    if score not in scale(metric):
        return Reply("out_of_scale", score=score, comment=comment)
    return Reply("score", score=score, comment=comment)
