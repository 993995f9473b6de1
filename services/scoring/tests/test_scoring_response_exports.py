"""The answers' page cursor and export formats, for every input (pure: no event loop)."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cxloop_scoring.responses import (
    FORMULA_STARTS,
    InvalidCursor,
    csv_lines,
    decode_cursor,
    encode_cursor,
    ndjson_lines,
    safe_cell,
)
from cxloop_shared.answers import RESPONSE_COLUMNS, ResponseFilter, ResponseView
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

# No deadline: examples are not timed (the machine may be busy with other tests).
untimed = settings(deadline=None)

# Fixed offsets, as Postgres hands times back: zones with DST make some wall times
# ambiguous, and Python never calls those equal across zones.
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
texts = st.text(max_size=40)
views = st.builds(
    ResponseView,
    response_id=st.text(min_size=1, max_size=20),
    revision=st.integers(1, 5),
    touchpoint=st.sampled_from(["checkout", "ticket_closed"]),
    survey=st.none() | texts,
    metric=st.sampled_from(["nps", "csat", "ces", "cxi", "yes_no"]),
    score=st.integers(0, 10),
    comment=st.none() | texts,
    channel=st.none() | texts,
    customer_id=st.text(min_size=1, max_size=20),
    invitation_id=st.none() | st.uuids(),
    answered_at=moments,
)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@untimed
@given(moment=moments, response_id=st.text(max_size=200))
def test_a_cursor_comes_back_as_the_position_it_was_made_from(
    moment: datetime, response_id: str
) -> None:
    assert decode_cursor(encode_cursor((moment, response_id))) == (moment, response_id)


@untimed
@given(tampered=st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.hex()))
def test_any_other_cursor_is_refused_or_read_never_an_unexpected_error(tampered: str) -> None:
    try:
        moment, response_id = decode_cursor(tampered)
    except InvalidCursor:
        return
    assert moment.tzinfo is not None
    assert isinstance(response_id, str)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        encode_cursor((datetime(2026, 1, 1, tzinfo=UTC), "r"))[:-3],
        "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb" * 40,
        b64('["2026-01-01T00:00:00", "r"]'),  # a naive time
        b64('["2026-01-01T00:00:00Z", 1]'),  # a number for the response id
        b64('["2026-01-01T00:00:00Z", "r", "extra"]'),
        b64('{"answered_at": "2026-01-01T00:00:00Z"}'),
    ],
)
def test_tampered_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


@untimed
@given(rows=st.lists(views, max_size=5))
def test_csv_reads_back_cell_for_cell_behind_the_formula_guard(rows: list[ResponseView]) -> None:
    text = csv_lines(rows, header=True)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == list(RESPONSE_COLUMNS)
    assert len(read) == len(rows) + 1
    for row, cells in zip(rows, read[1:], strict=True):
        assert cells == [safe_cell(getattr(row, column)) for column in RESPONSE_COLUMNS]
        for column, cell in zip(RESPONSE_COLUMNS, cells, strict=True):
            value = getattr(row, column)
            if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                assert cell == f"'{value}"
            assert not cell.startswith(FORMULA_STARTS)


@untimed
@given(rows=st.lists(views, max_size=5))
def test_ndjson_is_one_document_a_line_that_reads_back(rows: list[ResponseView]) -> None:
    lines = ndjson_lines(rows).split("\n")
    assert lines[-1] == ""
    assert [ResponseView.model_validate(json.loads(line)) for line in lines[:-1]] == rows


def test_cells_of_each_kind() -> None:
    moment = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert safe_cell(None) == ""
    assert safe_cell(7) == "7"
    assert safe_cell(moment) == "2026-11-23T07:00:00+00:00"
    assert safe_cell(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert safe_cell("=SUM(A1)") == "'=SUM(A1)"
    assert safe_cell("fine, really") == "fine, really"


@untimed
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "touchpoint": st.sampled_from(["checkout", "ticket_closed", "a.b:c/d-e"]),
            "metric": st.sampled_from(["nps", "csat", "ces", "cxi", "yes_no"]),
            "channel": st.sampled_from(["web", "email"]),
            "customer_id": st.text(min_size=1, max_size=20),
            "score_min": st.integers(0, 10),
            "score_max": st.integers(0, 10),
            "has_comment": st.booleans(),
            "from": moments,
            "to": moments,
        },
    )
)
def test_a_filter_passes_through_query_parameters_unchanged(fields: dict[str, object]) -> None:
    try:
        asked = ResponseFilter.model_validate(fields)
    except ValidationError:
        assume(False)
        return
    assert ResponseFilter.model_validate(asked.query()) == asked


def test_a_filter_refuses_an_empty_range_naming_the_upper_bound() -> None:
    with pytest.raises(ValidationError) as refused:
        ResponseFilter.model_validate({"score_min": 8, "score_max": 7})
    assert refused.value.errors()[0]["loc"] == ("score_max",)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError) as refused:
        ResponseFilter.model_validate({"from": moment, "to": moment})
    assert refused.value.errors()[0]["loc"] == ("to",)
