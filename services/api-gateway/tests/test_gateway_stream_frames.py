"""Server-sent event frames, whatever their id or data hold: one event each, read back
exactly. Apart from the stream's own tests, whose running stack (its Kafka client draws
from `random` in the background) would trip hypothesis's check on generated data."""

from __future__ import annotations

import json
from typing import Any

from cxloop_gateway.stream.events import frame
from hypothesis import given
from hypothesis import strategies as st


def test_a_frame_is_one_event_whatever_the_id_or_data_hold() -> None:
    sent = frame("response", {"comment": "two\nlines\r\n\ndata: forged"}, event_id="r1\n\nevent: x")
    assert sent == (
        b'id: r1event: x\nevent: response\ndata: {"comment":"two\\nlines\\r\\n\\ndata: forged"}\n\n'
    )
    assert sent.count(b"\n\n") == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(event_id=st.text(), data=json_values)
def test_any_frame_reads_back_as_exactly_its_one_event(event_id: str, data: Any) -> None:
    sent = frame("response", data, event_id=event_id).decode()
    assert sent.endswith("\n\n")
    lines = sent[:-2].split("\n")
    assert "" not in lines, "one event, no more"
    assert not any("\r" in line for line in lines), "a carriage return also ends a line"
    fields = dict(line.split(": ", 1) for line in lines)
    assert fields["event"] == "response"
    assert json.loads(fields["data"]) == data
    assert fields["id"] == "".join(c for c in event_id if c not in "\r\n\0")
