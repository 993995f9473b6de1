"""Customer profiles: newest observation wins per field, consent by time, erasure sticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from cxloop_dispatch.profiles import StoredCustomer, change_consent, erase, observe, profile
from cxloop_shared.events import Customer
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)

observations = st.lists(
    st.tuples(
        st.integers(0, 1000).map(lambda minutes: T0 + timedelta(minutes=minutes)),
        st.sampled_from(["a@example.com", "b@example.com", None]),
        st.sampled_from(["Europe/Berlin", "Asia/Kathmandu", None]),
    ),
    max_size=12,
)


@given(observations, st.randoms())
def test_the_newest_observation_of_each_field_wins_in_any_order(
    seen: list[tuple[datetime, str | None, str | None]], shuffler: Random
) -> None:
    shuffled = list(seen)
    shuffler.shuffle(shuffled)
    stored = StoredCustomer()
    for at, email, zone in shuffled:
        observe(stored, Customer(id="c-1", email=email, timezone=zone), at)

    for name, index in (("email", 1), ("timezone", 2)):
        candidates = [(obs[0], obs[index]) for obs in seen if obs[index] is not None]
        if not candidates:
            assert name not in stored.fields
            continue
        newest = max(at for at, _ in candidates)
        # Different values observed at the same instant: either may win.
        assert stored.fields[name] in {value for at, value in candidates if at == newest}


def test_consent_follows_the_newest_change_whatever_the_delivery_order() -> None:
    stored = StoredCustomer()
    change_consent(stored, change="opt_out", channel="sms", at=T0 + timedelta(hours=2))
    change_consent(stored, change="opt_in", channel="sms", at=T0 + timedelta(hours=1))  # late
    change_consent(stored, change="opt_out", channel="email", at=T0)

    assert profile(stored).opted_out == {"sms", "email"}
    change_consent(stored, change="opt_in", channel=None, at=T0 + timedelta(hours=3))
    assert profile(stored).opted_out == frozenset()


def test_an_erased_customer_keeps_no_personal_data_and_a_late_touchpoint_brings_none_back() -> None:
    stored = StoredCustomer()
    observe(stored, Customer(id="c-1", email="a@example.com", phone="+14155550100"), T0)
    erase(stored, T0 + timedelta(days=1))
    observe(stored, Customer(id="c-1", email="new@example.com"), T0 + timedelta(days=2))

    erased = profile(stored)
    assert erased.erased
    assert (erased.email, erased.phone) == (None, None)
    assert stored.fields == {}


def test_address_opt_outs_block_channels_beside_the_customers_own() -> None:
    stored = StoredCustomer()
    change_consent(stored, change="opt_out", channel="email", at=T0)

    assert profile(stored, blocked_channels=frozenset({"sms"})).opted_out == {"email", "sms"}
