"""A CX Index answer carries its three items, and its score is their rounded mean."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cxloop_shared.config import SurveyConfig
from cxloop_shared.events import CXI_ITEMS, ResponseRecorded, cxi_score
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

items = st.fixed_dictionaries({item: st.integers(1, 5) for item in CXI_ITEMS})


@given(items)
def test_the_score_is_the_mean_rounded_half_up_and_on_the_items_scale(
    answer: dict[str, int],
) -> None:
    mean = sum(answer.values()) / 3
    score = cxi_score(answer)  # type: ignore[arg-type]

    assert abs(score - mean) <= 0.5
    assert score == int(mean + 0.5)
    assert 1 <= score <= 5


def answer(**fields: Any) -> ResponseRecorded:
    return ResponseRecorded(
        workspace_id="acme",
        response_id="r-1",
        customer_id="c-1",
        touchpoint="onboarding",
        answered_at=datetime(2026, 11, 23, tzinfo=UTC),
        collected_via="link",
        **fields,
    )


def test_a_cx_index_answer_needs_all_three_items_and_their_score() -> None:
    complete = {"effective": 4, "easy": 2, "enjoyable": 3}

    assert answer(metric="cxi", score=3, items=complete).items == complete
    with pytest.raises(ValidationError, match="needs exactly effective, easy, enjoyable"):
        answer(metric="cxi", score=3, items={"effective": 4, "easy": 2})
    with pytest.raises(ValidationError, match="mean of its items"):
        answer(metric="cxi", score=5, items=complete)
    with pytest.raises(ValidationError):
        answer(metric="cxi", score=3, items={**complete, "easy": 6})
    with pytest.raises(ValidationError, match="only a CX Index answer has items"):
        answer(metric="nps", score=3, items=complete)


def test_only_a_cx_index_survey_words_items() -> None:
    question = {"en": "About your onboarding"}
    worded = SurveyConfig(metric="cxi", question=question, items={"easy": {"en": "Easy?"}})

    assert worded.items == {"easy": {"en": "Easy?"}}
    with pytest.raises(ValidationError, match="only a CX Index"):
        SurveyConfig(metric="nps", question=question, items={"easy": {"en": "Easy?"}})
