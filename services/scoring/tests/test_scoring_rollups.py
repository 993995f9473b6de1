"""Bucket arithmetic and how revisions move answers between rollups."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from cxloop_scoring.rollups import (
    BUCKET,
    Answer,
    RollupKey,
    SentInvitation,
    add_histograms,
    bucket_after,
    bucket_of,
    empty_histogram,
    histogram_of,
    revise,
    sent_counts,
)
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def answer(
    response_id: str = "r1",
    *,
    revision: int = 1,
    score: int = 9,
    at: datetime = T0,
    touchpoint: str = "checkout",
    channel: str | None = "web",
) -> Answer:
    return Answer(
        workspace_id="acme",
        response_id=response_id,
        revision=revision,
        touchpoint=touchpoint,
        metric="nps",
        score=score,
        answered_at=at,
        customer_id="c-42",
        channel=channel,
    )


def key(at: datetime = T0, *, channel: str = "web") -> RollupKey:
    return RollupKey("acme", "checkout", "nps", channel, bucket_of(at))


def hist(**counts: int) -> list[int]:
    histogram = empty_histogram()
    for score, count in counts.items():
        histogram[int(score.removeprefix("s"))] = count
    return histogram


def test_a_bucket_is_the_quarter_hour_in_utc() -> None:
    berlin = datetime(2026, 3, 29, 3, 44, 59, 999, tzinfo=ZoneInfo("Europe/Berlin"))
    assert bucket_of(berlin) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert bucket_of(T0) == T0
    assert bucket_after(T0) == T0
    assert bucket_after(T0 + timedelta(seconds=1)) == T0 + BUCKET


def test_local_midnight_in_45_minute_and_30_minute_zones_is_a_bucket_edge() -> None:
    for zone in ("Asia/Kathmandu", "Asia/Kolkata", "Australia/Eucla", "America/St_Johns"):
        midnight = datetime(2026, 7, 1, tzinfo=ZoneInfo(zone))
        assert bucket_of(midnight) == midnight


def test_bucket_of_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        bucket_of(datetime(2026, 1, 1))


@given(st.datetimes(timezones=st.just(UTC)), st.integers(-12 * 60, 14 * 60))
def test_a_moment_lies_in_its_bucket(moment: datetime, offset_minutes: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    start = bucket_of(local)
    assert start <= moment < start + BUCKET
    assert (start.minute % 15, start.second, start.microsecond) == (0, 0, 0)
    assert start.tzinfo == UTC


def test_histograms_add_element_by_element() -> None:
    assert histogram_of([10, 10, 0]) == hist(s10=2, s0=1)
    assert add_histograms(hist(s10=2), hist(s10=-1, s3=1)) == hist(s10=1, s3=1)


def test_a_new_answer_adds_one_to_its_bucket() -> None:
    revisions = revise(stored={}, incoming=[answer(score=9)])
    assert revisions.latest == [answer(score=9)]
    assert revisions.deltas == {key(): hist(s9=1)}


def test_a_revision_moves_the_answer_out_of_its_old_bucket_and_score() -> None:
    old = answer(score=3)
    later = T0 + timedelta(hours=1)
    new = answer(revision=2, score=10, at=later)
    revisions = revise(stored={old.key: old}, incoming=[new])
    assert revisions.latest == [new]
    assert revisions.deltas == {key(): hist(s3=-1), key(later): hist(s10=1)}


@pytest.mark.parametrize("revision", [1, 2])
def test_a_redelivered_or_older_revision_changes_nothing(revision: int) -> None:
    stored = answer(revision=2, score=8)
    revisions = revise(stored={stored.key: stored}, incoming=[answer(revision=revision, score=1)])
    assert revisions.latest == []
    assert revisions.deltas == {}


def test_several_answers_in_one_batch_fold_into_one_latest_and_one_delta() -> None:
    incoming = [
        answer("r1", score=9),
        answer("r2", score=2),
        answer("r1", revision=3, score=6),
        answer("r1", revision=2, score=7),  # older than revision 3: ignored
        answer("r3", score=6, channel=None),
    ]
    revisions = revise(stored={}, incoming=incoming)
    assert revisions.latest == [incoming[2], incoming[1], incoming[4]]
    # r1: +9, then -9 +6; r2: +2; r3 in the channel-less rollup.
    assert revisions.deltas == {key(channel=""): hist(s6=1), key(): hist(s2=1, s6=1)}


def test_a_revision_that_changes_nothing_in_the_rollups_leaves_no_delta() -> None:
    old = answer(score=9, at=T0)
    same_bucket = answer(revision=2, score=9, at=T0 + timedelta(minutes=5))
    revisions = revise(stored={old.key: old}, incoming=[same_bucket])
    assert revisions.latest == [same_bucket]
    assert revisions.deltas == {}


def test_a_revision_stamped_with_another_persona_moves_to_that_personas_rollup() -> None:
    old = answer(score=4)  # recorded before its touchpoint told the persona
    new = replace(answer(revision=2, score=4), persona="smb-owner")
    revisions = revise(stored={old.key: old}, incoming=[new])
    assert new.rollup_key == RollupKey("acme", "checkout", "nps", "web", T0, "smb-owner")
    assert revisions.deltas == {key(): hist(s4=-1), new.rollup_key: hist(s4=1)}


def test_a_sent_invitation_counts_under_its_persona() -> None:
    sent = SentInvitation("acme", uuid.uuid4(), "checkout", "nps", "email", T0, "enterprise")
    assert sent_counts([sent]) == {
        RollupKey("acme", "checkout", "nps", "email", T0, "enterprise"): 1
    }


def test_sent_invitations_count_per_rollup() -> None:
    def sent(at: datetime, channel: str = "email") -> SentInvitation:
        return SentInvitation("acme", uuid.uuid4(), "checkout", "nps", channel, at)

    counts = sent_counts([sent(T0), sent(T0 + timedelta(minutes=14)), sent(T0, "sms")])
    assert counts == {
        RollupKey("acme", "checkout", "nps", "email", T0): 2,
        RollupKey("acme", "checkout", "nps", "sms", T0): 1,
    }


# A stream of deliveries: (response, revision, score, minutes after T0), with redeliveries.
deliveries = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "r3", "r4"]),
        st.integers(1, 4),
        st.integers(0, 10),
        st.integers(0, 120),
    ),
    max_size=40,
)


@given(deliveries, st.integers(1, 8))
def test_rollups_always_hold_the_latest_revision_of_each_answer(
    stream: list[tuple[str, int, int, int]], batch_size: int
) -> None:
    # Content is a function of (response, revision), as it is for real redeliveries.
    first: dict[tuple[str, int], Answer] = {}
    for response_id, revision, score, minutes in stream:
        first.setdefault(
            (response_id, revision),
            answer(response_id, revision=revision, score=score, at=T0 + timedelta(minutes=minutes)),
        )
    answers = [first[(response_id, revision)] for response_id, revision, _, _ in stream]

    stored: dict[tuple[str, str], Answer] = {}
    rollups: dict[RollupKey, list[int]] = {}
    for start in range(0, len(answers), batch_size):
        revisions = revise(stored=stored, incoming=answers[start : start + batch_size])
        stored.update({latest.key: latest for latest in revisions.latest})
        for rollup_key, delta in revisions.deltas.items():
            rollups[rollup_key] = add_histograms(rollups.get(rollup_key, empty_histogram()), delta)

    latest: dict[str, Answer] = {}
    for each in answers:
        if each.response_id not in latest or each.revision > latest[each.response_id].revision:
            latest[each.response_id] = each
    expected: dict[RollupKey, list[int]] = {}
    for each in latest.values():
        expected.setdefault(each.rollup_key, empty_histogram())[each.score] += 1
    assert {k: v for k, v in rollups.items() if any(v)} == expected
    assert all(count >= 0 for histogram in rollups.values() for count in histogram)
